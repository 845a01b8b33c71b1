/* mirror_sync: keeps the PostgreSQL mirror live with syncrepl (RFC 4533, refreshAndPersist,
 * libldap's ldap_sync API). One long-lived thread per sync root (mirror_scope.h) blocks on
 * its LDAP session forever, so neither the event loop nor a workq worker ever waits on it.
 * Each change is applied in its own transaction together with the cookie that covers it;
 * a restart resumes from that cookie, and a missing, rejected or refresh-required cookie
 * means a full refresh that also removes what disappeared. While LDAP is unreachable the
 * mirror is left as it is (and keeps serving) and the thread reconnects with capped
 * exponential backoff (MAILSTACK_LDAP_RETRY_MIN_MS, default 500, doubling up to
 * MAILSTACK_LDAP_RETRY_MAX_MS, default 30000). One instance per process; every function
 * here is called on the loop thread. */
#ifndef MIRROR_SYNC_H
#define MIRROR_SYNC_H

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>

/* Reads the settings and starts the sync threads; -1 (logged) on a bad setting. */
int mirror_sync_start(struct event_base *base);
/* Asks the threads to end (they leave their LDAP sessions at once); does not wait. */
void mirror_sync_stop(void);
/* Waits for the threads and frees everything; after the loop has ended. */
void mirror_sync_free(void);

/* A full refresh now (POST /v1/mirror/refresh): done(arg, ok) is called on the loop thread
 * once every root has completed a refresh that began after this call (ok = 1), or as soon
 * as one of them failed to (ok = 0). */
void mirror_sync_refresh(void (*done)(void *arg, int ok), void *arg);

/* For control_set_ready: ready while every session is live; degraded (still serving the
 * mirror) while LDAP is unreachable ("ldap unreachable: …") or a resync is under way; not
 * ready before the first complete refresh or while PostgreSQL is unreachable. */
int mirror_sync_ready(void *arg, char *reason, size_t reasonlen);
/* For control_set_status: "mirror" (row counts, soft-deleted accounts awaiting their
 * purge as deleted_accounts, last refresh) and "sync" (per session). */
void mirror_sync_status(void *arg, json_t *status);
/* n soft-deleted accounts were purged (mirror_purge.h); callable from any thread. */
void mirror_sync_purged(long n);

#endif
