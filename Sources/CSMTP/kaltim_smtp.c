// SMTP submission through libcurl (Debian: libcurl4-openssl-dev). curl_easy_setopt is
// variadic, which Swift cannot call, so the whole submission lives here.
#include "kaltim_smtp.h"

#include <curl/curl.h>
#include <string.h>

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

void kaltim_smtp_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

kaltim_smtp_result kaltim_smtp_send(const char *url, const char *username, const char *password, int starttls,
                                    const char *ca_file, const char *from, const char *const *recipients,
                                    size_t recipient_count, const char *payload, size_t payload_length,
                                    long timeout_seconds) {
    kaltim_smtp_result result;
    memset(&result, 0, sizeof result);
    CURL *curl = curl_easy_init();
    if (!curl) {
        result.curl_code = CURLE_FAILED_INIT;
        strncpy(result.error, "curl_easy_init failed", sizeof result.error - 1);
        return result;
    }
    struct curl_slist *rcpt = NULL;
    for (size_t i = 0; i < recipient_count; i++) rcpt = curl_slist_append(rcpt, recipients[i]);
    payload_cursor cursor = {payload, payload_length};
    char error[CURL_ERROR_SIZE];
    error[0] = 0;

    curl_easy_setopt(curl, CURLOPT_URL, url);
    if (username) curl_easy_setopt(curl, CURLOPT_USERNAME, username);
    if (password) curl_easy_setopt(curl, CURLOPT_PASSWORD, password);
    curl_easy_setopt(curl, CURLOPT_USE_SSL, starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    if (ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_payload);
    curl_easy_setopt(curl, CURLOPT_READDATA, &cursor);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

    CURLcode code = curl_easy_perform(curl);
    result.curl_code = (int)code;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.smtp_code);
    if (code != CURLE_OK) {
        const char *text = error[0] ? error : curl_easy_strerror(code);
        strncpy(result.error, text, sizeof result.error - 1);
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    return result;
}
