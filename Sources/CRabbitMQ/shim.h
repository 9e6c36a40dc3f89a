// Swift's view of librabbitmq (rabbitmq-c). Includes the right headers for 0.11 (flat
// amqp.h) and 0.12+ (rabbitmq-c/amqp.h), and wraps what Swift cannot call: the login
// functions are C variadic.
#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H

#include <sys/time.h>  // amqp.h only forward-declares struct timeval
#include <poll.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#include <sys/prctl.h>
#endif

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#endif

/// PLAIN login with client properties (connection name, capabilities).
static inline amqp_rpc_reply_t CRabbitMQ_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max,
    int heartbeat, const amqp_table_t *client_properties, const char *user,
    const char *password) {
  return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat,
                                    client_properties, AMQP_SASL_METHOD_PLAIN, user,
                                    password);
}

/// Names the calling thread (as `top -H` and `perf` show it; at most 15 characters).
static inline void CRabbitMQ_name_this_thread(const char *name) {
#if defined(__linux__)
  prctl(PR_SET_NAME, name, 0, 0, 0);
#else
  (void)name;
#endif
}

#endif
