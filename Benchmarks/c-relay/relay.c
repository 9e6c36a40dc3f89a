/*
 * relay.c - the raw librabbitmq baseline for the Swift worker layer.
 *
 * This program does, with nothing but the system C client (librabbitmq 0.11)
 * and one AMQP connection, the same work our Swift layer does: consume from a
 * queue with manual acks, republish every message persistently to another
 * queue with publisher confirms, and ack the source only once the republish
 * is confirmed. Its rate is the yardstick the Swift numbers are compared to,
 * so it is written to be correct first and then as fast as a straightforward
 * single-threaded client can be: no per-message RPCs, bounded confirm window,
 * multiple-acks wherever the broker confirms in bulk.
 *
 * Subcommands:
 *   fill    publish N persistent messages with publisher confirms
 *   relay   move N messages from queue A to queue B (the benchmark proper)
 *   drain   consume and ack N messages
 *   declare / purge / delete   queue housekeeping for benchmark runs
 *
 * Build: cc -O2 -o relay relay.c -lrabbitmq          (plain C99)
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#define EXIT_USAGE 64

#define CONSUME_CHANNEL 1 /* basic.consume, basic.qos, source acks */
#define PUBLISH_CHANNEL 2 /* confirm mode, republishes */

#define HEARTBEAT_SECONDS 30
#define FRAME_MAX 131072
#define CONNECT_TIMEOUT_SECONDS 10
#define RPC_TIMEOUT_SECONDS 30
#define POLL_INTERVAL_MS 250 /* longest single wait for a frame */

#define DRAIN_PREFETCH 200
#define DRAIN_ACK_EVERY 100

#define DEFAULT_SIZE 1024
#define DEFAULT_WINDOW 50
#define DEFAULT_PREFETCH 50
#define DEFAULT_TIMEOUT 30

#define MAX_COUNT UINT64_C(1000000000000)
#define MAX_SIZE 134217728UL /* RabbitMQ's default max_message_size */
#define MAX_WINDOW 1000000UL

static const char *const USAGE =
    "usage: relay fill    --url URL --queue Q --count N [--size BYTES] [--window W]\n"
    "                     [--timeout SECONDS]\n"
    "       relay relay   --url URL --source A --target B --count N [--prefetch P]\n"
    "                     [--window W] [--timeout SECONDS]\n"
    "       relay drain   --url URL --queue Q --count N [--timeout SECONDS]\n"
    "       relay declare --url URL --queue Q [--quorum]\n"
    "       relay purge   --url URL --queue Q\n"
    "       relay delete  --url URL --queue Q\n"
    "\n"
    "  fill     publish N persistent messages of BYTES bytes (default 1024) to Q\n"
    "           with publisher confirms, at most W (default 50) unconfirmed\n"
    "  relay    consume N messages from A (prefetch P, default 50), republish each\n"
    "           persistently to B with confirms (window W, default 50) and ack the\n"
    "           source delivery once its republish is confirmed\n"
    "  drain    consume and ack N messages from Q (prefetch 200, acks every 100)\n"
    "  declare  declare durable queue Q: classic (x-queue-version 2) or --quorum\n"
    "  purge    purge queue Q\n"
    "  delete   delete queue Q\n"
    "\n"
    "  --timeout  fail when no delivery or confirm arrives for this many seconds\n"
    "             (default 30)\n"
    "  URL is amqp://user:password@host:port/vhost (vhost \"/\" is %2f)\n"
    "\n"
    "Results go to stdout as one line: <mode> messages=N seconds=S rate=R\n"
    "(mode is fill, c-relay or drain). Exit status: 0 success, 64 bad arguments,\n"
    "1 any broker, protocol or connection error.\n";

/* ------------------------------------------------------------------------ */
/* Diagnostics and time                                                     */

static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("relay: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void warn(const char *fmt, ...)
{
    va_list ap;
    fputs("relay: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bytes_len(amqp_bytes_t b)
{
    return b.len > 1024 ? 1024 : (int)b.len;
}

static const char *bytes_ptr(amqp_bytes_t b)
{
    return b.bytes != NULL ? (const char *)b.bytes : "";
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */

enum mode { MODE_FILL, MODE_RELAY, MODE_DRAIN, MODE_DECLARE, MODE_PURGE, MODE_DELETE };

enum {
    OPT_URL = 1 << 0,
    OPT_QUEUE = 1 << 1,
    OPT_SOURCE = 1 << 2,
    OPT_TARGET = 1 << 3,
    OPT_COUNT = 1 << 4,
    OPT_SIZE = 1 << 5,
    OPT_WINDOW = 1 << 6,
    OPT_PREFETCH = 1 << 7,
    OPT_TIMEOUT = 1 << 8,
    OPT_QUORUM = 1 << 9
};

static const struct {
    const char *name;
    enum mode mode;
    unsigned required;
    unsigned allowed;
} MODES[] = {
    {"fill", MODE_FILL, OPT_URL | OPT_QUEUE | OPT_COUNT,
     OPT_URL | OPT_QUEUE | OPT_COUNT | OPT_SIZE | OPT_WINDOW | OPT_TIMEOUT},
    {"relay", MODE_RELAY, OPT_URL | OPT_SOURCE | OPT_TARGET | OPT_COUNT,
     OPT_URL | OPT_SOURCE | OPT_TARGET | OPT_COUNT | OPT_PREFETCH | OPT_WINDOW | OPT_TIMEOUT},
    {"drain", MODE_DRAIN, OPT_URL | OPT_QUEUE | OPT_COUNT,
     OPT_URL | OPT_QUEUE | OPT_COUNT | OPT_TIMEOUT},
    {"declare", MODE_DECLARE, OPT_URL | OPT_QUEUE, OPT_URL | OPT_QUEUE | OPT_QUORUM},
    {"purge", MODE_PURGE, OPT_URL | OPT_QUEUE, OPT_URL | OPT_QUEUE},
    {"delete", MODE_DELETE, OPT_URL | OPT_QUEUE, OPT_URL | OPT_QUEUE},
};

static const struct {
    const char *name;
    unsigned bit;
    int takes_value;
} OPTIONS[] = {
    {"--url", OPT_URL, 1},         {"--queue", OPT_QUEUE, 1},   {"--source", OPT_SOURCE, 1},
    {"--target", OPT_TARGET, 1},   {"--count", OPT_COUNT, 1},   {"--size", OPT_SIZE, 1},
    {"--window", OPT_WINDOW, 1},   {"--prefetch", OPT_PREFETCH, 1},
    {"--timeout", OPT_TIMEOUT, 1}, {"--quorum", OPT_QUORUM, 0},
};

typedef struct {
    enum mode mode;
    struct amqp_connection_info server; /* points into url_copy */
    char *url_copy;
    const char *queue;  /* fill, drain, declare, purge, delete */
    const char *source; /* relay */
    const char *target; /* relay */
    uint64_t count;
    size_t size;
    uint32_t window;
    uint16_t prefetch;
    unsigned timeout;
    int quorum;
} options_t;

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("relay: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    fputs(USAGE, stderr);
    return -1;
}

/* Strict unsigned decimal: digits only, no sign, no overflow, within [lo, hi]. */
static int parse_number(const char *name, const char *text, uint64_t lo, uint64_t hi,
                        uint64_t *out)
{
    uint64_t value = 0;
    const char *p = text;
    if (*p == '\0')
        return usage_error("%s: expected a number, got an empty string", name);
    for (; *p != '\0'; p++) {
        unsigned digit;
        if (*p < '0' || *p > '9')
            return usage_error("%s: not a number: '%s'", name, text);
        digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return usage_error("%s: number too large: '%s'", name, text);
        value = value * 10 + digit;
    }
    if (value < lo || value > hi)
        return usage_error("%s: %s is out of range [%" PRIu64 ", %" PRIu64 "]", name, text, lo,
                           hi);
    *out = value;
    return 0;
}

static int check_queue_name(const char *name, const char *value)
{
    size_t n = strlen(value);
    if (n == 0 || n > 255)
        return usage_error("%s: a queue name must have 1 to 255 bytes", name);
    return 0;
}

static int parse_args(int argc, char **argv, options_t *o)
{
    const char *url = NULL;
    unsigned seen = 0, required = 0, allowed = 0;
    size_t m, k;
    int i;
    uint64_t n;

    memset(o, 0, sizeof(*o));
    o->size = DEFAULT_SIZE;
    o->window = DEFAULT_WINDOW;
    o->prefetch = DEFAULT_PREFETCH;
    o->timeout = DEFAULT_TIMEOUT;

    if (argc < 2)
        return usage_error("missing subcommand");
    for (m = 0; m < sizeof(MODES) / sizeof(MODES[0]); m++)
        if (strcmp(argv[1], MODES[m].name) == 0)
            break;
    if (m == sizeof(MODES) / sizeof(MODES[0]))
        return usage_error("unknown subcommand '%s'", argv[1]);
    o->mode = MODES[m].mode;
    required = MODES[m].required;
    allowed = MODES[m].allowed;

    for (i = 2; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        for (k = 0; k < sizeof(OPTIONS) / sizeof(OPTIONS[0]); k++)
            if (strcmp(arg, OPTIONS[k].name) == 0)
                break;
        if (k == sizeof(OPTIONS) / sizeof(OPTIONS[0]))
            return usage_error("unknown argument '%s'", arg);
        if (!(allowed & OPTIONS[k].bit))
            return usage_error("%s is not an option of '%s'", arg, argv[1]);
        if (seen & OPTIONS[k].bit)
            return usage_error("%s given twice", arg);
        seen |= OPTIONS[k].bit;
        if (OPTIONS[k].takes_value) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", arg);
            value = argv[++i];
        }
        switch (OPTIONS[k].bit) {
        case OPT_URL:
            url = value;
            break;
        case OPT_QUEUE:
            if (check_queue_name(arg, value) != 0)
                return -1;
            o->queue = value;
            break;
        case OPT_SOURCE:
            if (check_queue_name(arg, value) != 0)
                return -1;
            o->source = value;
            break;
        case OPT_TARGET:
            if (check_queue_name(arg, value) != 0)
                return -1;
            o->target = value;
            break;
        case OPT_COUNT:
            if (parse_number(arg, value, 1, MAX_COUNT, &n) != 0)
                return -1;
            o->count = n;
            break;
        case OPT_SIZE:
            if (parse_number(arg, value, 0, MAX_SIZE, &n) != 0)
                return -1;
            o->size = (size_t)n;
            break;
        case OPT_WINDOW:
            if (parse_number(arg, value, 1, MAX_WINDOW, &n) != 0)
                return -1;
            o->window = (uint32_t)n;
            break;
        case OPT_PREFETCH:
            if (parse_number(arg, value, 1, UINT16_MAX, &n) != 0)
                return -1;
            o->prefetch = (uint16_t)n;
            break;
        case OPT_TIMEOUT:
            if (parse_number(arg, value, 1, 86400, &n) != 0)
                return -1;
            o->timeout = (unsigned)n;
            break;
        case OPT_QUORUM:
            o->quorum = 1;
            break;
        default:
            break;
        }
    }

    for (k = 0; k < sizeof(OPTIONS) / sizeof(OPTIONS[0]); k++)
        if ((required & OPTIONS[k].bit) && !(seen & OPTIONS[k].bit))
            return usage_error("'%s' needs %s", argv[1], OPTIONS[k].name);

    /* amqp_parse_url rewrites its argument in place: parse a private copy. */
    o->url_copy = malloc(strlen(url) + 1);
    if (o->url_copy == NULL) {
        fail("out of memory");
        return -2;
    }
    strcpy(o->url_copy, url);
    amqp_default_connection_info(&o->server);
    if (amqp_parse_url(o->url_copy, &o->server) != AMQP_STATUS_OK)
        return usage_error("--url: cannot parse '%s'", url);
    if (o->server.ssl)
        return usage_error("--url: amqps is not supported, use amqp://");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Connection                                                               */

typedef struct {
    amqp_connection_state_t conn;
    int alive; /* the connection can still be closed gracefully */
} session_t;

/* Report a failed RPC (or amqp_read_message) reply; answers a broker-side
 * channel.close / connection.close with the matching close-ok. */
static void report_reply(session_t *s, amqp_channel_t channel, amqp_rpc_reply_t r,
                         const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return;
    case AMQP_RESPONSE_NONE:
        fail("%s: no reply from the library", what);
        s->alive = 0;
        return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        fail("%s: %s", what, amqp_error_string2(r.library_error));
        s->alive = 0;
        return;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            amqp_connection_close_ok_t ok;
            fail("%s: broker closed the connection: %u %.*s", what, m->reply_code,
                 bytes_len(m->reply_text), bytes_ptr(m->reply_text));
            memset(&ok, 0, sizeof(ok));
            amqp_send_method(s->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
            s->alive = 0;
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            amqp_channel_close_ok_t ok;
            fail("%s: broker closed channel %u: %u %.*s", what, (unsigned)channel,
                 m->reply_code, bytes_len(m->reply_text), bytes_ptr(m->reply_text));
            memset(&ok, 0, sizeof(ok));
            amqp_send_method(s->conn, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        } else {
            fail("%s: unexpected broker reply %s", what, amqp_method_name(r.reply.id));
            s->alive = 0;
        }
        return;
    }
    fail("%s: unknown reply type %d", what, (int)r.reply_type);
    s->alive = 0;
}

/* The generated RPC wrappers return NULL on failure; details are in
 * amqp_get_rpc_reply. */
static int rpc_ok(session_t *s, amqp_channel_t channel, const void *ok, const char *what)
{
    if (ok != NULL)
        return 0;
    report_reply(s, channel, amqp_get_rpc_reply(s->conn), what);
    return -1;
}

static int session_open(session_t *s, const options_t *o)
{
    struct timeval connect_tv, rpc_tv;
    amqp_socket_t *socket;
    amqp_rpc_reply_t r;
    int rc;

    s->alive = 0;
    s->conn = amqp_new_connection();
    if (s->conn == NULL) {
        fail("out of memory");
        return -1;
    }
    socket = amqp_tcp_socket_new(s->conn);
    if (socket == NULL) {
        fail("cannot create a TCP socket");
        return -1;
    }
    connect_tv.tv_sec = CONNECT_TIMEOUT_SECONDS;
    connect_tv.tv_usec = 0;
    rc = amqp_socket_open_noblock(socket, o->server.host, o->server.port, &connect_tv);
    if (rc != AMQP_STATUS_OK) {
        fail("cannot connect to %s:%d: %s", o->server.host, o->server.port,
             amqp_error_string2(rc));
        return -1;
    }
    amqp_set_handshake_timeout(s->conn, &connect_tv);
    rpc_tv.tv_sec = RPC_TIMEOUT_SECONDS;
    rpc_tv.tv_usec = 0;
    amqp_set_rpc_timeout(s->conn, &rpc_tv);

    r = amqp_login(s->conn, o->server.vhost, 0, FRAME_MAX, HEARTBEAT_SECONDS,
                   AMQP_SASL_METHOD_PLAIN, o->server.user, o->server.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        report_reply(s, 0, r, "login (check user, password and vhost)");
        return -1;
    }
    s->alive = 1;
    return 0;
}

static int channel_open(session_t *s, amqp_channel_t channel)
{
    return rpc_ok(s, channel, amqp_channel_open(s->conn, channel), "channel.open");
}

/* Orderly shutdown. Closing the consuming channel first is an RPC on that
 * channel, so the broker has processed every ack sent before it. Messages
 * prefetched beyond the requested count are still unacked and get requeued. */
static int session_close(session_t *s, int consume_open, int publish_open)
{
    amqp_rpc_reply_t r;
    int status = 0;

    if (s->conn == NULL)
        return 0;
    if (s->alive && consume_open) {
        r = amqp_channel_close(s->conn, CONSUME_CHANNEL, AMQP_REPLY_SUCCESS);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            report_reply(s, CONSUME_CHANNEL, r, "channel.close");
            status = -1;
        }
    }
    if (s->alive && publish_open) {
        r = amqp_channel_close(s->conn, PUBLISH_CHANNEL, AMQP_REPLY_SUCCESS);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            report_reply(s, PUBLISH_CHANNEL, r, "channel.close");
            status = -1;
        }
    }
    if (s->alive) {
        r = amqp_connection_close(s->conn, AMQP_REPLY_SUCCESS);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            report_reply(s, 0, r, "connection.close");
            status = -1;
        }
    }
    amqp_destroy_connection(s->conn);
    s->conn = NULL;
    s->alive = 0;
    return status;
}

/* ------------------------------------------------------------------------ */
/* Publisher confirm window                                                 */

/* Publish sequence numbers start at 1 on a channel in confirm mode. Every
 * sequence number <= confirmed is confirmed; (confirmed, next_seq) are in
 * flight and occupy ring slots (seq - 1) % cap, which carry the source
 * delivery tag (relay) and a flag for confirms that arrived out of order. */
typedef struct {
    uint32_t cap;
    uint64_t next_seq;
    uint64_t confirmed;
    uint64_t *tags; /* NULL when there is no source delivery to ack */
    unsigned char *done;
} window_t;

static int window_init(window_t *w, uint32_t cap, int with_tags)
{
    w->cap = cap;
    w->next_seq = 1;
    w->confirmed = 0;
    w->tags = with_tags ? calloc(cap, sizeof(uint64_t)) : NULL;
    w->done = calloc(cap, 1);
    if (w->done == NULL || (with_tags && w->tags == NULL)) {
        fail("out of memory");
        return -1;
    }
    return 0;
}

static void window_free(window_t *w)
{
    free(w->tags);
    free(w->done);
    w->tags = NULL;
    w->done = NULL;
}

static size_t window_slot(const window_t *w, uint64_t seq)
{
    return (size_t)((seq - 1) % w->cap);
}

static int window_has_room(const window_t *w)
{
    return w->next_seq - 1 - w->confirmed < w->cap;
}

static void window_push(window_t *w, uint64_t delivery_tag)
{
    size_t slot = window_slot(w, w->next_seq);
    if (w->tags != NULL)
        w->tags[slot] = delivery_tag;
    w->done[slot] = 0;
    w->next_seq++;
}

/* Apply a basic.ack; returns how far the contiguous confirmed prefix moved,
 * or -1 when the broker confirmed a sequence number never published. */
static int64_t window_confirm(window_t *w, uint64_t seq, int multiple)
{
    uint64_t before = w->confirmed;
    if (seq >= w->next_seq) {
        fail("broker confirmed publish %" PRIu64 " but only %" PRIu64 " were sent", seq,
             w->next_seq - 1);
        return -1;
    }
    if (seq <= w->confirmed)
        return 0; /* already covered by an earlier multiple confirm */
    if (multiple) {
        while (w->confirmed < seq) {
            w->confirmed++;
            w->done[window_slot(w, w->confirmed)] = 0;
        }
    } else {
        w->done[window_slot(w, seq)] = 1;
    }
    while (w->confirmed + 1 < w->next_seq && w->done[window_slot(w, w->confirmed + 1)]) {
        w->confirmed++;
        w->done[window_slot(w, w->confirmed)] = 0;
    }
    return (int64_t)(w->confirmed - before);
}

/* ------------------------------------------------------------------------ */
/* Deliveries read while the confirm window is full                          */

typedef struct {
    uint64_t delivery_tag;
    amqp_message_t message;
} pending_t;

typedef struct {
    pending_t *items;
    size_t cap, head, len;
} backlog_t;

static int backlog_init(backlog_t *b, size_t cap)
{
    b->items = calloc(cap, sizeof(pending_t));
    b->cap = cap;
    b->head = 0;
    b->len = 0;
    if (b->items == NULL) {
        fail("out of memory");
        return -1;
    }
    return 0;
}

static void backlog_free(backlog_t *b)
{
    while (b->len > 0) {
        amqp_destroy_message(&b->items[b->head].message);
        b->head = (b->head + 1) % b->cap;
        b->len--;
    }
    free(b->items);
    b->items = NULL;
}

/* ------------------------------------------------------------------------ */
/* Run state and frame dispatch                                             */

typedef struct {
    session_t session;
    const options_t *opt;
    amqp_bytes_t route;   /* routing key of publishes: the target queue */
    window_t window;      /* fill and relay */
    backlog_t backlog;    /* relay */
    int relaying;         /* acks source deliveries on confirm */
    uint64_t published;   /* publishes sent */
    uint64_t done;        /* messages completely handled */
    double started;       /* clock start; < 0 until started */
    double last_progress; /* last delivery or confirm, for --timeout */
    int blocked_warned;
} run_t;

static int check_idle(run_t *r)
{
    if (now_seconds() - r->last_progress <= (double)r->opt->timeout)
        return 0;
    fail("no delivery or confirm for %u s (%" PRIu64 " of %" PRIu64
         " messages done, %" PRIu64 " published)",
         r->opt->timeout, r->done, r->opt->count, r->published);
    return -1;
}

static void mark_progress(run_t *r)
{
    r->last_progress = now_seconds();
    if (r->started < 0)
        r->started = r->last_progress;
}

static int publish(run_t *r, const amqp_basic_properties_t *props, amqp_bytes_t body,
                   uint64_t delivery_tag)
{
    /* mandatory: an unroutable message comes back as basic.return (fatal). */
    int rc = amqp_basic_publish(r->session.conn, PUBLISH_CHANNEL, amqp_empty_bytes, r->route, 1,
                                0, props, body);
    if (rc != AMQP_STATUS_OK) {
        fail("basic.publish: %s", amqp_error_string2(rc));
        r->session.alive = 0;
        return -1;
    }
    window_push(&r->window, delivery_tag);
    r->published++;
    return 0;
}

/* Republish a consumed message: same body and properties, forced persistent. */
static int relay_message(run_t *r, uint64_t delivery_tag, const amqp_message_t *m)
{
    amqp_basic_properties_t props = m->properties;
    props._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    return publish(r, &props, m->body, delivery_tag);
}

static int on_confirm(run_t *r, uint64_t seq, int multiple)
{
    int64_t advanced = window_confirm(&r->window, seq, multiple);
    if (advanced < 0)
        return -1;
    if (advanced == 0)
        return 0;
    mark_progress(r);
    if (r->relaying) {
        /* Delivery tags grow with publish order, so a multiple ack of the
         * newest confirmed delivery acks exactly the newly confirmed ones. */
        uint64_t tag = r->window.tags[window_slot(&r->window, r->window.confirmed)];
        int rc = amqp_basic_ack(r->session.conn, CONSUME_CHANNEL, tag, advanced > 1);
        if (rc != AMQP_STATUS_OK) {
            fail("basic.ack: %s", amqp_error_string2(rc));
            r->session.alive = 0;
            return -1;
        }
    }
    r->done = r->window.confirmed;
    return 0;
}

static int on_delivery_frame(run_t *r, const amqp_frame_t *f)
{
    const amqp_basic_deliver_t *d = f->payload.method.decoded;
    uint64_t tag = d->delivery_tag;
    amqp_message_t message;
    amqp_rpc_reply_t reply;

    reply = amqp_read_message(r->session.conn, f->channel, &message, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        report_reply(&r->session, f->channel, reply, "reading a delivery");
        return -1;
    }
    mark_progress(r);
    if (r->published + r->backlog.len >= r->opt->count) {
        /* Prefetched beyond the count: leave it unacked, it is requeued on close. */
        amqp_destroy_message(&message);
        return 0;
    }
    if (r->backlog.len == r->backlog.cap) {
        amqp_destroy_message(&message);
        fail("broker sent more unacked deliveries than the prefetch of %u",
             (unsigned)r->opt->prefetch);
        return -1;
    }
    r->backlog.items[(r->backlog.head + r->backlog.len) % r->backlog.cap].delivery_tag = tag;
    r->backlog.items[(r->backlog.head + r->backlog.len) % r->backlog.cap].message = message;
    r->backlog.len++;
    return 0;
}

/* Handle one frame that is not a delivery read by amqp_consume_message. */
static int handle_frame(run_t *r, const amqp_frame_t *f)
{
    amqp_channel_t ch = f->channel;

    if (f->frame_type != AMQP_FRAME_METHOD) {
        fail("unexpected frame of type %u on channel %u", (unsigned)f->frame_type,
             (unsigned)ch);
        r->session.alive = 0;
        return -1;
    }
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD:
        if (ch == PUBLISH_CHANNEL && r->window.done != NULL) {
            const amqp_basic_ack_t *m = f->payload.method.decoded;
            return on_confirm(r, m->delivery_tag, m->multiple);
        }
        break;
    case AMQP_BASIC_NACK_METHOD:
        if (ch == PUBLISH_CHANNEL) {
            const amqp_basic_nack_t *m = f->payload.method.decoded;
            fail("broker nacked publish %s%" PRIu64 " (the message was not stored)",
                 m->multiple ? "sequence numbers up to " : "sequence number ",
                 m->delivery_tag);
            return -1;
        }
        break;
    case AMQP_BASIC_RETURN_METHOD: {
        const amqp_basic_return_t *m = f->payload.method.decoded;
        fail("broker returned an unroutable message: %u %.*s (routing key '%.*s'; does the "
             "queue exist?)",
             m->reply_code, bytes_len(m->reply_text), bytes_ptr(m->reply_text),
             bytes_len(m->routing_key), bytes_ptr(m->routing_key));
        return -1;
    }
    case AMQP_BASIC_DELIVER_METHOD:
        if (ch == CONSUME_CHANNEL && r->backlog.items != NULL)
            return on_delivery_frame(r, f);
        break;
    case AMQP_BASIC_CANCEL_METHOD:
        fail("broker cancelled the consumer on channel %u (queue deleted?)", (unsigned)ch);
        return -1;
    case AMQP_CHANNEL_CLOSE_METHOD: {
        const amqp_channel_close_t *m = f->payload.method.decoded;
        amqp_channel_close_ok_t ok;
        fail("broker closed channel %u: %u %.*s", (unsigned)ch, m->reply_code,
             bytes_len(m->reply_text), bytes_ptr(m->reply_text));
        memset(&ok, 0, sizeof(ok));
        amqp_send_method(r->session.conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        return -1;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        const amqp_connection_close_t *m = f->payload.method.decoded;
        amqp_connection_close_ok_t ok;
        fail("broker closed the connection: %u %.*s", m->reply_code, bytes_len(m->reply_text),
             bytes_ptr(m->reply_text));
        memset(&ok, 0, sizeof(ok));
        amqp_send_method(r->session.conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        r->session.alive = 0;
        return -1;
    }
    case AMQP_CONNECTION_BLOCKED_METHOD:
        if (!r->blocked_warned)
            warn("broker blocked the connection (resource alarm); waiting");
        r->blocked_warned = 1;
        return 0;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        return 0;
    default:
        break;
    }
    fail("unexpected %s on channel %u", amqp_method_name(f->payload.method.id), (unsigned)ch);
    return -1;
}

/* Wait up to one poll interval for a frame and dispatch it. A timeout is
 * normal and only checked against --timeout. */
static int wait_and_dispatch(run_t *r)
{
    struct timeval tv;
    amqp_frame_t frame;
    int rc;

    tv.tv_sec = 0;
    tv.tv_usec = POLL_INTERVAL_MS * 1000;
    rc = amqp_simple_wait_frame_noblock(r->session.conn, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT)
        return check_idle(r);
    if (rc != AMQP_STATUS_OK) {
        fail("waiting for a frame: %s", amqp_error_string2(rc));
        r->session.alive = 0;
        return -1;
    }
    rc = handle_frame(r, &frame);
    amqp_maybe_release_buffers(r->session.conn);
    return rc;
}

/* Outcome of one amqp_consume_message call. */
enum { GOT_DELIVERY, GOT_OTHER, GOT_ERROR };

static int consume_one(run_t *r, amqp_envelope_t *env)
{
    struct timeval tv;
    amqp_rpc_reply_t reply;

    tv.tv_sec = 0;
    tv.tv_usec = POLL_INTERVAL_MS * 1000;
    reply = amqp_consume_message(r->session.conn, env, &tv, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        if (env->channel != CONSUME_CHANNEL) {
            fail("delivery on unexpected channel %u", (unsigned)env->channel);
            amqp_destroy_envelope(env);
            return GOT_ERROR;
        }
        mark_progress(r);
        return GOT_DELIVERY;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        if (reply.library_error == AMQP_STATUS_TIMEOUT)
            return check_idle(r) == 0 ? GOT_OTHER : GOT_ERROR;
        if (reply.library_error == AMQP_STATUS_UNEXPECTED_STATE)
            /* Not a delivery (a confirm, a close...): it was put back. */
            return wait_and_dispatch(r) == 0 ? GOT_OTHER : GOT_ERROR;
    }
    report_reply(&r->session, CONSUME_CHANNEL, reply, "consuming");
    return GOT_ERROR;
}

static int start_consumer(run_t *r, const char *queue, uint16_t prefetch)
{
    session_t *s = &r->session;
    if (channel_open(s, CONSUME_CHANNEL) != 0)
        return -1;
    if (rpc_ok(s, CONSUME_CHANNEL, amqp_basic_qos(s->conn, CONSUME_CHANNEL, 0, prefetch, 0),
               "basic.qos") != 0)
        return -1;
    return rpc_ok(s, CONSUME_CHANNEL,
                  amqp_basic_consume(s->conn, CONSUME_CHANNEL, amqp_cstring_bytes(queue),
                                     amqp_empty_bytes, 0, 0, 0, amqp_empty_table),
                  queue);
}

/* Opens the publishing channel in confirm mode after checking (passively)
 * that the target queue exists, so a typo fails fast and clearly. */
static int start_publisher(run_t *r, const char *queue)
{
    session_t *s = &r->session;
    if (channel_open(s, PUBLISH_CHANNEL) != 0)
        return -1;
    if (rpc_ok(s, PUBLISH_CHANNEL,
               amqp_queue_declare(s->conn, PUBLISH_CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0,
                                  amqp_empty_table),
               queue) != 0)
        return -1;
    return rpc_ok(s, PUBLISH_CHANNEL, amqp_confirm_select(s->conn, PUBLISH_CHANNEL),
                  "confirm.select");
}

/* ------------------------------------------------------------------------ */
/* Subcommands                                                              */

static void print_result(const char *label, uint64_t count, double seconds)
{
    double rate = seconds > 0 ? (double)count / seconds : 0.0;
    printf("%s messages=%" PRIu64 " seconds=%.3f rate=%.0f\n", label, count, seconds, rate);
    fflush(stdout);
}

static int run_fill(run_t *r)
{
    const options_t *o = r->opt;
    amqp_basic_properties_t props;
    amqp_bytes_t body;
    double elapsed;

    body.len = o->size;
    body.bytes = malloc(o->size > 0 ? o->size : 1);
    if (body.bytes == NULL) {
        fail("out of memory");
        return -1;
    }
    memset(body.bytes, 'x', o->size);
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.content_type = amqp_cstring_bytes("application/octet-stream");
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    r->route = amqp_cstring_bytes(o->queue);

    if (window_init(&r->window, o->window, 0) != 0 || start_publisher(r, o->queue) != 0) {
        free(body.bytes);
        return -1;
    }
    mark_progress(r); /* the clock starts with the first publish */
    while (r->done < o->count) {
        int rc;
        if (r->published < o->count && window_has_room(&r->window))
            rc = publish(r, &props, body, 0);
        else
            rc = wait_and_dispatch(r);
        if (rc != 0) {
            free(body.bytes);
            return -1;
        }
    }
    elapsed = now_seconds() - r->started;
    free(body.bytes);
    if (session_close(&r->session, 0, 1) != 0)
        return -1;
    print_result("fill", o->count, elapsed);
    return 0;
}

static int run_relay(run_t *r)
{
    const options_t *o = r->opt;
    double elapsed;

    r->relaying = 1;
    r->route = amqp_cstring_bytes(o->target);
    if (window_init(&r->window, o->window, 1) != 0 || backlog_init(&r->backlog, o->prefetch) != 0)
        return -1;
    /* Publisher first: deliveries may start flowing as soon as the consumer
     * exists, and confirm.select must not be waiting behind them. */
    if (start_publisher(r, o->target) != 0 || start_consumer(r, o->source, o->prefetch) != 0)
        return -1;
    r->last_progress = now_seconds();

    while (r->done < o->count) {
        int rc = 0;
        if (r->published < o->count && window_has_room(&r->window)) {
            if (r->backlog.len > 0) {
                /* Deliveries that arrived while the window was full go first. */
                pending_t *p = &r->backlog.items[r->backlog.head];
                rc = relay_message(r, p->delivery_tag, &p->message);
                amqp_destroy_message(&p->message);
                r->backlog.head = (r->backlog.head + 1) % r->backlog.cap;
                r->backlog.len--;
            } else {
                amqp_envelope_t env;
                int got = consume_one(r, &env);
                if (got == GOT_DELIVERY) {
                    rc = relay_message(r, env.delivery_tag, &env.message);
                    amqp_destroy_envelope(&env);
                } else if (got == GOT_ERROR) {
                    rc = -1;
                }
            }
            amqp_maybe_release_buffers(r->session.conn);
        } else {
            /* Window full (or everything published): only confirms can
             * make progress. Deliveries read meanwhile go to the backlog. */
            rc = wait_and_dispatch(r);
        }
        if (rc != 0)
            return -1;
    }
    elapsed = now_seconds() - r->started;
    if (session_close(&r->session, 1, 1) != 0)
        return -1;
    print_result("c-relay", o->count, elapsed);
    return 0;
}

static int run_drain(run_t *r)
{
    const options_t *o = r->opt;
    uint64_t received = 0;
    double elapsed;

    if (start_consumer(r, o->queue, DRAIN_PREFETCH) != 0)
        return -1;
    r->last_progress = now_seconds();
    while (r->done < o->count) {
        amqp_envelope_t env;
        int got = consume_one(r, &env);
        if (got == GOT_ERROR)
            return -1;
        if (got != GOT_DELIVERY)
            continue;
        received++;
        if (received % DRAIN_ACK_EVERY == 0 || received == o->count) {
            int rc = amqp_basic_ack(r->session.conn, CONSUME_CHANNEL, env.delivery_tag, 1);
            if (rc != AMQP_STATUS_OK) {
                amqp_destroy_envelope(&env);
                fail("basic.ack: %s", amqp_error_string2(rc));
                r->session.alive = 0;
                return -1;
            }
            r->done = received;
        }
        amqp_destroy_envelope(&env);
        amqp_maybe_release_buffers(r->session.conn);
    }
    elapsed = now_seconds() - r->started;
    if (session_close(&r->session, 1, 0) != 0)
        return -1;
    print_result("drain", o->count, elapsed);
    return 0;
}

static int run_admin(run_t *r)
{
    const options_t *o = r->opt;
    session_t *s = &r->session;
    amqp_bytes_t queue = amqp_cstring_bytes(o->queue);

    if (channel_open(s, CONSUME_CHANNEL) != 0)
        return -1;
    if (o->mode == MODE_DECLARE) {
        amqp_table_entry_t arg;
        amqp_table_t args;
        amqp_queue_declare_ok_t *ok;
        if (o->quorum) {
            arg.key = amqp_cstring_bytes("x-queue-type");
            arg.value.kind = AMQP_FIELD_KIND_UTF8;
            arg.value.value.bytes = amqp_cstring_bytes("quorum");
        } else {
            arg.key = amqp_cstring_bytes("x-queue-version");
            arg.value.kind = AMQP_FIELD_KIND_I32;
            arg.value.value.i32 = 2;
        }
        args.num_entries = 1;
        args.entries = &arg;
        ok = amqp_queue_declare(s->conn, CONSUME_CHANNEL, queue, 0, 1, 0, 0, args);
        if (rpc_ok(s, CONSUME_CHANNEL, ok, o->queue) != 0)
            return -1;
        printf("declare queue=%s type=%s messages=%" PRIu32 " consumers=%" PRIu32 "\n",
               o->queue, o->quorum ? "quorum" : "classic", ok->message_count,
               ok->consumer_count);
    } else if (o->mode == MODE_PURGE) {
        amqp_queue_purge_ok_t *ok = amqp_queue_purge(s->conn, CONSUME_CHANNEL, queue);
        if (rpc_ok(s, CONSUME_CHANNEL, ok, o->queue) != 0)
            return -1;
        printf("purge queue=%s messages=%" PRIu32 "\n", o->queue, ok->message_count);
    } else {
        amqp_queue_delete_ok_t *ok = amqp_queue_delete(s->conn, CONSUME_CHANNEL, queue, 0, 0);
        if (rpc_ok(s, CONSUME_CHANNEL, ok, o->queue) != 0)
            return -1;
        printf("delete queue=%s messages=%" PRIu32 "\n", o->queue, ok->message_count);
    }
    fflush(stdout);
    return session_close(s, 1, 0);
}

int main(int argc, char **argv)
{
    options_t opt;
    run_t run;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(USAGE, stdout);
        return 0;
    }
    rc = parse_args(argc, argv, &opt);
    if (rc != 0) {
        free(opt.url_copy);
        return rc == -1 ? EXIT_USAGE : EXIT_FAILURE;
    }

    memset(&run, 0, sizeof(run));
    run.opt = &opt;
    run.started = -1;
    run.last_progress = now_seconds();

    rc = session_open(&run.session, &opt);
    if (rc == 0) {
        switch (opt.mode) {
        case MODE_FILL:
            rc = run_fill(&run);
            break;
        case MODE_RELAY:
            rc = run_relay(&run);
            break;
        case MODE_DRAIN:
            rc = run_drain(&run);
            break;
        default:
            rc = run_admin(&run);
            break;
        }
    }
    /* After an error: close gracefully when the connection still allows it
     * (unacked deliveries are requeued by the broker either way). */
    if (run.session.conn != NULL) {
        if (rc != 0 && run.session.alive) {
            amqp_rpc_reply_t r = amqp_connection_close(run.session.conn, AMQP_REPLY_SUCCESS);
            (void)r;
        }
        amqp_destroy_connection(run.session.conn);
    }
    backlog_free(&run.backlog);
    window_free(&run.window);
    free(opt.url_copy);
    return rc == 0 ? 0 : EXIT_FAILURE;
}
