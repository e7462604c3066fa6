/* One persistent connection from the daemon to a handler container, speaking
 * the handler protocol. Loop thread only. Writes are buffered and flushed once
 * per loop iteration, so a burst of calls costs one write() per handler. The
 * bytes a connection holds unwritten are capped, and each call's bytes stay
 * its own until they start going out, so a call that ends before that can
 * take them back. */
#ifndef TF_HCONN_H
#define TF_HCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hproto.h"
#include "loop.h"

struct hconn;

/* The connections of one owner (the dispatcher): those with bytes queued and
 * those closed but not yet freed. Zero-initialised; loop thread only. */
struct hconn_set {
    struct hconn *dirty;
    struct hconn *dead;
    /* The most bytes one connection holds unwritten (a handler that does not
     * read leaves them there); a call that would pass it is refused, unless
     * the connection holds none, so one call larger than the cap still goes
     * to an idle handler. 0: no cap. */
    size_t max_unsent;
    /* On TCP connections: a handler silent this long while a call's bytes
     * wait for its acknowledgement, or while the link is idle, is taken as
     * gone (TCP_USER_TIMEOUT and keepalive probes), and a connect gives up
     * after it; the connection then closes with ETIMEDOUT. A cut link sends
     * no reset: without this it is noticed only after ~15 minutes of
     * retransmissions. 0: the kernel's defaults. Unix sockets need none. */
    int link_timeout_ms;
};

struct hconn_events {
    void (*on_ready)(void *owner, struct hconn *h);
    /* reply's pointers are valid only during the call. */
    void (*on_reply)(void *owner, struct hconn *h, const struct hproto_reply *reply);
    /* The connection failed or ended. err is the errno that ended it:
     * ETIMEDOUT when the link timed out (the handler may be alive, but
     * cannot be reached); ECONNRESET when the handler closed it; EPROTO or
     * EMSGSIZE when it broke the protocol; EACCES when it did not
     * authenticate as the secret asks (hconn_open); else what a read,
     * write or connect reported. why is one line. No callback follows; h stays
     * readable (hconn_unsent_call) until its set's next reap. */
    void (*on_closed)(void *owner, struct hconn *h, int err, const char *why);
};

/* The largest secret a connection answers a handler's challenge with. */
#define HCONN_SECRET_MAX 64

/* Starts a non-blocking connect to the unix socket at unix_path, or, when
 * that is NULL or "", to host:port over TCP. With a secret (NULL or "":
 * none; at most HCONN_SECRET_MAX bytes) the handler must send a CHALLENGE
 * before READY, answered with its PROOF; without one, a CHALLENGE is
 * refused. Either way a refusal closes the connection with EACCES. Return 0
 * or a negative errno (-ENOENT or -ECONNREFUSED: nothing listens yet,
 * -EINVAL: an address or secret that cannot be). */
int hconn_open(struct hconn_set *set, struct loop *l, const char *host, uint16_t port,
               const char *unix_path, const char *secret, const struct hconn_events *ev,
               void *owner, struct hconn **out);

/* Queues a call; it goes out at the set's next flush. *seq (seq may be NULL)
 * names its bytes for hconn_drop. Return 0, -ENOTCONN before READY, -ENOBUFS
 * when the call does not fit under the set's max_unsent, -EINVAL (too many
 * headers) or -ENOMEM. */
int hconn_send_call(struct hconn *h, const struct hproto_call *call, uint64_t *seq);

/* Queues a CALL already packed (hproto_pack_call) for the next flush; as
 * hconn_send_call. */
int hconn_send_packed(struct hconn *h, const void *data, size_t len, uint64_t *seq);

/* Whether a call of size bytes (hproto_call_size) fits under the cap now. */
bool hconn_has_room(const struct hconn *h, size_t size);

/* Takes back the call seq if none of its bytes has been written, and returns
 * true (its memory goes at the next flush); false when some went out, since
 * a call begun must go on whole for the stream to stay valid, or when seq is
 * no longer queued. */
bool hconn_drop(struct hconn *h, uint64_t seq);

/* Whether none of call seq's bytes has been written, on a connection open or
 * closed (before its set's reap): then *data and *len are its packed CALL,
 * valid until the next flush or reap, for the caller to send elsewhere. */
bool hconn_unsent_call(const struct hconn *h, uint64_t seq, const void **data, size_t *len);

/* The bytes queued and not yet written, taken-back calls' excluded. */
size_t hconn_unsent(const struct hconn *h);

/* Writes the queued bytes of every connection of set (once per loop iteration). */
void hconn_set_flush(struct hconn_set *set);

/* Closes without callbacks; the memory is freed at its set's next reap. */
void hconn_close(struct hconn *h);

/* Frees the connections of set closed before this point: call it once no
 * pointer to them is left (after the loop's event batch). */
void hconn_set_reap(struct hconn_set *set);

#endif
