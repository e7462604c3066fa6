/* One persistent connection from the daemon to a handler container, speaking
 * the handler protocol. Loop thread only. Writes are buffered and flushed once
 * per loop iteration, so a burst of calls costs one write() per handler. */
#ifndef TF_HCONN_H
#define TF_HCONN_H

#include <stdint.h>

#include "hproto.h"
#include "loop.h"

struct hconn;

/* The connections of one owner (the dispatcher): those with bytes queued and
 * those closed but not yet freed. Zero-initialised; loop thread only. */
struct hconn_set {
    struct hconn *dirty;
    struct hconn *dead;
};

struct hconn_events {
    void (*on_ready)(void *owner, struct hconn *h);
    /* reply's pointers are valid only during the call. */
    void (*on_reply)(void *owner, struct hconn *h, const struct hproto_reply *reply);
    /* The connection failed or ended; why is one line. No callback follows. */
    void (*on_closed)(void *owner, struct hconn *h, const char *why);
};

/* Starts a non-blocking connect to the unix socket at unix_path, or, when
 * that is NULL or "", to host:port over TCP. Return 0 or a negative errno
 * (-ENOENT or -ECONNREFUSED: nothing listens yet). */
int hconn_open(struct hconn_set *set, struct loop *l, const char *host, uint16_t port,
               const char *unix_path, const struct hconn_events *ev, void *owner,
               struct hconn **out);

/* Queues a call; it goes out at the set's next flush. Return 0 or -ENOMEM. */
int hconn_send_call(struct hconn *h, const struct hproto_call *call);

/* Queues a CALL already packed (hproto_pack_call) for the next flush. */
int hconn_send_packed(struct hconn *h, const void *data, size_t len);

/* Writes the queued bytes of every connection of set (once per loop iteration). */
void hconn_set_flush(struct hconn_set *set);

/* Closes without callbacks; the memory is freed at its set's next reap. */
void hconn_close(struct hconn *h);

/* Frees the connections of set closed before this point: call it once no
 * pointer to them is left (after the loop's event batch). */
void hconn_set_reap(struct hconn_set *set);

#endif
