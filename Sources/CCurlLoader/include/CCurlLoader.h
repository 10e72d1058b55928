// What CCurlLoader.c defines is declared where the Swift code finds it: CCurl's shim.h (ccurl_*)
// and curl's own headers (curl_*). Swift code imports CCurl, never this module, so that curl's
// types reach it from one module only.
#include "../../CCurl/shim.h"
