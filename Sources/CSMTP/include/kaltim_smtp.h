#ifndef KALTIM_SMTP_H
#define KALTIM_SMTP_H

#include <stddef.h>

/// The outcome of one SMTP submission through libcurl.
typedef struct {
    /// 0 on success; otherwise libcurl's CURLcode.
    int curl_code;
    /// The SMTP server's last reply code (e.g. 250, 451, 550), 0 when none was read.
    long smtp_code;
    /// libcurl's error text (empty on success).
    char error[256];
} kaltim_smtp_result;

/// Sends one message (RFC 5322 text, CRLF line ends) to `recipients` over SMTP with libcurl:
/// `url` is smtp://host:port (or smtps://); `starttls` 1 requires STARTTLS, 0 sends in clear
/// (loopback relays); `ca_file` may be NULL (system CAs). Blocks at most `timeout_seconds`.
/// Thread-safe as long as each call runs on its own thread (one easy handle per call).
kaltim_smtp_result kaltim_smtp_send(const char *url, const char *username, const char *password, int starttls,
                                    const char *ca_file, const char *from, const char *const *recipients,
                                    size_t recipient_count, const char *payload, size_t payload_length,
                                    long timeout_seconds);

/// `curl_code` when libcurl could not be loaded (the error says why).
#define KALTIM_SMTP_NO_LIBCURL (-1)

/// Loads libcurl (dlopen) and initialises it, once per process; call before any thread sends.
/// Returns NULL, or why libcurl cannot be used (then every send fails with
/// KALTIM_SMTP_NO_LIBCURL).
const char *kaltim_smtp_global_init(void);

#endif
