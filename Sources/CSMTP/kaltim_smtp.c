// SMTP submission through libcurl (Debian: libcurl4-openssl-dev). curl_easy_setopt is
// variadic, which Swift cannot call, so the whole submission lives here.
//
// libcurl is loaded when the first SMTP sender is made (dlopen), not linked: linked, it and the
// two dozen libraries it needs (GnuTLS, Kerberos, LDAP, SSH, ...) were loaded and relocated in
// every worker process, about 4 MiB of each one's memory, while only a notifications worker
// with --smtp-url sends mail.
#include "kaltim_smtp.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    void (*easy_cleanup)(CURL *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl_api;
static char load_error[200];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load_curl(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "libcurl.so.4 cannot be loaded: %s", why ? why : "unknown error");
        return;
    }
#define KALTIM_CURL_SYMBOL(field, name)                                                                             \
    *(void **)(&curl_api.field) = dlsym(library, name);                                                             \
    if (!curl_api.field) {                                                                                           \
        snprintf(load_error, sizeof load_error, "libcurl.so.4 has no %s", name);                                    \
        return;                                                                                                      \
    }
    KALTIM_CURL_SYMBOL(global_init, "curl_global_init")
    KALTIM_CURL_SYMBOL(easy_init, "curl_easy_init")
    KALTIM_CURL_SYMBOL(easy_setopt, "curl_easy_setopt")
    KALTIM_CURL_SYMBOL(easy_perform, "curl_easy_perform")
    KALTIM_CURL_SYMBOL(easy_getinfo, "curl_easy_getinfo")
    KALTIM_CURL_SYMBOL(easy_strerror, "curl_easy_strerror")
    KALTIM_CURL_SYMBOL(easy_cleanup, "curl_easy_cleanup")
    KALTIM_CURL_SYMBOL(slist_append, "curl_slist_append")
    KALTIM_CURL_SYMBOL(slist_free_all, "curl_slist_free_all")
#undef KALTIM_CURL_SYMBOL
    CURLcode initialised = curl_api.global_init(CURL_GLOBAL_DEFAULT);
    if (initialised != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "curl_global_init failed (CURLcode %d)", (int)initialised);
    }
}

typedef struct {
    const char *data;
    size_t remaining;
} payload_cursor;

static size_t read_payload(char *buffer, size_t size, size_t count, void *user) {
    payload_cursor *cursor = (payload_cursor *)user;
    size_t room = size * count;
    size_t n = cursor->remaining < room ? cursor->remaining : room;
    memcpy(buffer, cursor->data, n);
    cursor->data += n;
    cursor->remaining -= n;
    return n;
}

const char *kaltim_smtp_global_init(void) {
    pthread_once(&load_once, load_curl);
    return load_error[0] ? load_error : NULL;
}

kaltim_smtp_result kaltim_smtp_send(const char *url, const char *username, const char *password, int starttls,
                                    const char *ca_file, const char *from, const char *const *recipients,
                                    size_t recipient_count, const char *payload, size_t payload_length,
                                    long timeout_seconds) {
    kaltim_smtp_result result;
    memset(&result, 0, sizeof result);
    const char *unloadable = kaltim_smtp_global_init();
    if (unloadable) {
        result.curl_code = KALTIM_SMTP_NO_LIBCURL;
        strncpy(result.error, unloadable, sizeof result.error - 1);
        return result;
    }
    CURL *curl = curl_api.easy_init();
    if (!curl) {
        result.curl_code = CURLE_FAILED_INIT;
        strncpy(result.error, "curl_easy_init failed", sizeof result.error - 1);
        return result;
    }
    struct curl_slist *rcpt = NULL;
    for (size_t i = 0; i < recipient_count; i++) rcpt = curl_api.slist_append(rcpt, recipients[i]);
    payload_cursor cursor = {payload, payload_length};
    char error[CURL_ERROR_SIZE];
    error[0] = 0;

    curl_api.easy_setopt(curl, CURLOPT_URL, url);
    if (username) curl_api.easy_setopt(curl, CURLOPT_USERNAME, username);
    if (password) curl_api.easy_setopt(curl, CURLOPT_PASSWORD, password);
    curl_api.easy_setopt(curl, CURLOPT_USE_SSL, starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    if (ca_file) curl_api.easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    curl_api.easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_api.easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_api.easy_setopt(curl, CURLOPT_READFUNCTION, read_payload);
    curl_api.easy_setopt(curl, CURLOPT_READDATA, &cursor);
    curl_api.easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_api.easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
    curl_api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_seconds);
    curl_api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_api.easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

    CURLcode code = curl_api.easy_perform(curl);
    result.curl_code = (int)code;
    curl_api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.smtp_code);
    if (code != CURLE_OK) {
        const char *text = error[0] ? error : curl_api.easy_strerror(code);
        strncpy(result.error, text, sizeof result.error - 1);
    }
    curl_api.slist_free_all(rcpt);
    curl_api.easy_cleanup(curl);
    return result;
}
