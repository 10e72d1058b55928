#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// Everything from here on is hidden, curl's declarations included: the executable must never
// offer the curl_* names below to libcurl or to the libraries it loads, which have to find the
// real ones.
#pragma GCC visibility push(hidden)

#include "../CCurl/shim.h"

// The library's name at run time: its soname, which libcurl has kept since 2006. A build
// whose libcurl is not on the loader's path may name it with -DCCURL_LIBRARY=/path/libcurl.so.4.
#ifndef CCURL_LIBRARY
#define CCURL_LIBRARY "libcurl.so.4"
#endif

// The functions narsync calls, typed from curl's own declarations so that the compiler checks
// every call through them.
static struct {
    __typeof__(&curl_global_init) global_init;
    __typeof__(&curl_slist_append) slist_append;
    __typeof__(&curl_slist_free_all) slist_free_all;
    __typeof__(&curl_easy_init) easy_init;
    __typeof__(&curl_easy_cleanup) easy_cleanup;
    __typeof__(&curl_easy_pause) easy_pause;
    __typeof__(&curl_easy_strerror) easy_strerror;
    __typeof__(&curl_easy_setopt) easy_setopt;
    __typeof__(&curl_easy_getinfo) easy_getinfo;
    __typeof__(&curl_multi_init) multi_init;
    __typeof__(&curl_multi_cleanup) multi_cleanup;
    __typeof__(&curl_multi_setopt) multi_setopt;
    __typeof__(&curl_multi_add_handle) multi_add_handle;
    __typeof__(&curl_multi_remove_handle) multi_remove_handle;
    __typeof__(&curl_multi_perform) multi_perform;
    __typeof__(&curl_multi_poll) multi_poll;
    __typeof__(&curl_multi_wakeup) multi_wakeup;
    __typeof__(&curl_multi_info_read) multi_info_read;
} curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char *load_error;
static char load_error_text[512];

static void load(void) {
    void *library = dlopen(CCURL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(load_error_text, sizeof load_error_text, "%s", dlerror());
        load_error = load_error_text;
        return;
    }
#define RESOLVE(field, symbol)                                                                  \
    if ((curl.field = (__typeof__(curl.field))dlsym(library, #symbol)) == NULL) {               \
        snprintf(load_error_text, sizeof load_error_text, "%s has no %s", CCURL_LIBRARY, #symbol); \
        load_error = load_error_text;                                                          \
        return;                                                                                \
    }
    RESOLVE(global_init, curl_global_init)
    RESOLVE(slist_append, curl_slist_append)
    RESOLVE(slist_free_all, curl_slist_free_all)
    RESOLVE(easy_init, curl_easy_init)
    RESOLVE(easy_cleanup, curl_easy_cleanup)
    RESOLVE(easy_pause, curl_easy_pause)
    RESOLVE(easy_strerror, curl_easy_strerror)
    RESOLVE(easy_setopt, curl_easy_setopt)
    RESOLVE(easy_getinfo, curl_easy_getinfo)
    RESOLVE(multi_init, curl_multi_init)
    RESOLVE(multi_cleanup, curl_multi_cleanup)
    RESOLVE(multi_setopt, curl_multi_setopt)
    RESOLVE(multi_add_handle, curl_multi_add_handle)
    RESOLVE(multi_remove_handle, curl_multi_remove_handle)
    RESOLVE(multi_perform, curl_multi_perform)
    RESOLVE(multi_poll, curl_multi_poll)
    RESOLVE(multi_wakeup, curl_multi_wakeup)
    RESOLVE(multi_info_read, curl_multi_info_read)
#undef RESOLVE
}

const char *ccurl_load(void) {
    pthread_once(&load_once, load);
    return load_error;
}

// A curl function called before ccurl_load succeeded is narsync's bug, not the user's.
static void require_loaded(void) {
    if (ccurl_load() != NULL) {
        fprintf(stderr, "narsync: libcurl called but not loaded: %s\n", load_error);
        abort();
    }
}

CURLcode curl_global_init(long flags) { require_loaded(); return curl.global_init(flags); }
struct curl_slist *curl_slist_append(struct curl_slist *list, const char *data) { require_loaded(); return curl.slist_append(list, data); }
void curl_slist_free_all(struct curl_slist *list) { require_loaded(); curl.slist_free_all(list); }
CURL *curl_easy_init(void) { require_loaded(); return curl.easy_init(); }
void curl_easy_cleanup(CURL *handle) { require_loaded(); curl.easy_cleanup(handle); }
CURLcode curl_easy_pause(CURL *handle, int bitmask) { require_loaded(); return curl.easy_pause(handle, bitmask); }
const char *curl_easy_strerror(CURLcode code) { require_loaded(); return curl.easy_strerror(code); }
CURLM *curl_multi_init(void) { require_loaded(); return curl.multi_init(); }
CURLMcode curl_multi_cleanup(CURLM *multi) { require_loaded(); return curl.multi_cleanup(multi); }
CURLMcode curl_multi_add_handle(CURLM *multi, CURL *handle) { require_loaded(); return curl.multi_add_handle(multi, handle); }
CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *handle) { require_loaded(); return curl.multi_remove_handle(multi, handle); }
CURLMcode curl_multi_perform(CURLM *multi, int *running) { require_loaded(); return curl.multi_perform(multi, running); }
CURLMcode curl_multi_poll(CURLM *multi, struct curl_waitfd extra_fds[], unsigned int extra_nfds, int timeout_ms, int *ret) {
    require_loaded();
    return curl.multi_poll(multi, extra_fds, extra_nfds, timeout_ms, ret);
}
CURLMcode curl_multi_wakeup(CURLM *multi) { require_loaded(); return curl.multi_wakeup(multi); }
CURLMsg *curl_multi_info_read(CURLM *multi, int *queued) { require_loaded(); return curl.multi_info_read(multi, queued); }

CURLcode ccurl_easy_setopt_long(CURL *h, CURLoption o, long v) { require_loaded(); return curl.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { require_loaded(); return curl.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_string(CURL *h, CURLoption o, const char *v) { require_loaded(); return curl.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_pointer(CURL *h, CURLoption o, void *v) { require_loaded(); return curl.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { require_loaded(); return curl.easy_setopt(h, o, v); }
CURLcode ccurl_easy_setopt_read_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *)) { require_loaded(); return curl.easy_setopt(h, CURLOPT_READFUNCTION, f); }
CURLcode ccurl_easy_setopt_write_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *)) { require_loaded(); return curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, f); }
CURLcode ccurl_easy_setopt_header_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *)) { require_loaded(); return curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, f); }
CURLcode ccurl_easy_setopt_seek_function(CURL *h, int (*f)(void *, curl_off_t, int)) { require_loaded(); return curl.easy_setopt(h, CURLOPT_SEEKFUNCTION, f); }
CURLcode ccurl_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { require_loaded(); return curl.easy_getinfo(h, i, v); }
CURLcode ccurl_easy_getinfo_pointer(CURL *h, CURLINFO i, void **v) { require_loaded(); return curl.easy_getinfo(h, i, v); }
CURLcode ccurl_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { require_loaded(); return curl.easy_getinfo(h, i, v); }
CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { require_loaded(); return curl.multi_setopt(m, o, v); }

#pragma GCC visibility pop
