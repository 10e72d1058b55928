#include <curl/curl.h>

// Macros built from other macros do not reach Swift; these carry their values across.
static inline long ccurl_global_default(void) { return CURL_GLOBAL_DEFAULT; }
static inline int ccurl_pause_continue(void) { return CURLPAUSE_CONT; }
static inline size_t ccurl_readfunc_pause(void) { return CURL_READFUNC_PAUSE; }

/// Loads libcurl (once; any thread) and returns NULL, or why it cannot be loaded (dlerror's
/// message). narsync does not link libcurl: with the two dozen libraries it pulls in (TLS,
/// Kerberos, LDAP, SSH, ...) it was most of the start-up time of `narsync hook`, which runs
/// after every Nix build and never needs it. The `curl_*` functions the Swift code calls are
/// defined in Sources/CCurlLoader and forward to the loaded library; call this before any of them.
const char *ccurl_load(void);

// curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic, which Swift cannot
// call; these typed wrappers are what the Swift code uses instead.
CURLcode ccurl_easy_setopt_long(CURL *h, CURLoption o, long v);
CURLcode ccurl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v);
CURLcode ccurl_easy_setopt_string(CURL *h, CURLoption o, const char *v);
CURLcode ccurl_easy_setopt_pointer(CURL *h, CURLoption o, void *v);
CURLcode ccurl_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v);
CURLcode ccurl_easy_setopt_read_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *));
CURLcode ccurl_easy_setopt_write_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *));
CURLcode ccurl_easy_setopt_header_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *));
CURLcode ccurl_easy_setopt_seek_function(CURL *h, int (*f)(void *, curl_off_t, int));
CURLcode ccurl_easy_getinfo_long(CURL *h, CURLINFO i, long *v);
CURLcode ccurl_easy_getinfo_pointer(CURL *h, CURLINFO i, void **v);
CURLcode ccurl_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v);
CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption o, long v);
