/* edge: what libmicrohttpd 0.9.75 leaves to the application at the HTTP edge.
 *
 *   - Framing: a request whose length or target is ambiguous (Content-Length with
 *     Transfer-Encoding, repeated Content-Length / Transfer-Encoding / Host / Authorization, an
 *     HTTP/1.1 request without Host) is 400, a Transfer-Encoding other than chunked 501, as
 *     problem+json on a connection that is then closed (RFC 9112 §6.1, §6.3, §3.2).
 *   - Whole-request deadline: libmicrohttpd's connection timeout restarts on every byte, so a
 *     client trickling a byte at a time would hold a connection for ever. Each connection gets a
 *     deadline (ASSETD_CONNECTION_TIMEOUT seconds) for its request line, counted from the
 *     connection's opening or the previous answer, and another for the rest of the request
 *     (headers and body), counted from the request line; a sweep thread shuts down the socket of
 *     a connection past its deadline (libmicrohttpd then closes it). No deadline runs while a
 *     request is being handled or answered.
 *   - Raw answers: once the body is being received, libmicrohttpd 0.9.75 accepts no response
 *     (MHD_queue_response needs the headers-processed or full-request state), so a request
 *     refused mid-body (an oversized chunked body) is answered by writing the response to the
 *     socket directly before the connection is closed.
 *
 * The edge owns one record per connection (allocated when libmicrohttpd reports the connection,
 * freed when it reports it closed); the caller owns the edge and stops it after the daemon. */
#ifndef ASSETD_EDGE_H
#define ASSETD_EDGE_H

#include "http.h"

typedef struct edge edge;

/* Starts the sweep thread. request_timeout_s: the deadline of each phase. */
WUR int edge_start(edge **out, int request_timeout_s);
/* Joins the sweep thread and frees the edge. Call after MHD_stop_daemon. NULL-safe. */
void edge_stop(edge *e);

/* libmicrohttpd callbacks; cls is the edge. */
void edge_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode code);
void *edge_on_uri(void *cls, const char *uri, struct MHD_Connection *c);

/* The whole request is in (or refused): no deadline while it is handled and answered. */
void edge_request_received(struct MHD_Connection *c);
/* The answer is sent: the next request line must come within the deadline. */
void edge_request_done(struct MHD_Connection *c);

/* Checks the request's framing headers on the first call of the access handler: 0, or -1 with
 * rq's answer (400 or 501 problem+json) set; the connection is closed after it. */
int edge_check_framing_or_reply(http_req *rq, const char *version);

/* Writes rq's answer (a problem) straight to the socket, with Connection: close; the caller then
 * returns MHD_NO so that libmicrohttpd closes the connection without reading further. For
 * states in which libmicrohttpd refuses MHD_queue_response. Best effort: a peer that does not
 * read gets the close alone. */
void edge_answer_raw(http_req *rq);

#endif
