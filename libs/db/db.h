/* db: PostgreSQL access for worker threads. Each worker thread keeps one connection
 * (libpq connections are not shared between threads), opened on first use from
 * MAILSTACK_PG_DSN and reopened after it breaks. Every statement is parameterised. */
#ifndef MAILSTACK_DB_H
#define MAILSTACK_DB_H

#include <libpq-fe.h>
#include <stddef.h>

/* This thread's connection, or NULL when PostgreSQL cannot be reached (logged). */
PGconn *db_conn(void);
void db_close_thread(void);

/* PQexecParams in text format with n string params (NULL = SQL NULL). Returns the result
 * or NULL on error (error text logged with `what`). The caller
 * PQclear()s a non-NULL result. */
PGresult *db_exec(PGconn *conn, const char *what, const char *sql, int n,
                  const char *const *params);
/* The same with explicit lengths and formats, for binary parameters (bytea). */
PGresult *db_exec_bin(PGconn *conn, const char *what, const char *sql, int n,
                      const char *const *params, const int *lengths, const int *formats);
/* The general form: binary_result 1 asks for results in binary format. */
PGresult *db_query(PGconn *conn, const char *what, const char *sql, int n,
                   const char *const *params, const int *lengths, const int *formats,
                   int binary_result);
/* db_exec for a statement run again and again on this thread's connection: prepared on it
 * the first time (keyed by the address of `sql`, so pass a string that lives as long as
 * the thread, e.g. a literal), then run without being parsed and planned again. */
PGresult *db_exec_prepared(PGconn *conn, const char *what, const char *sql, int n,
                           const char *const *params);
int db_begin(PGconn *conn);     /* 0 or -1 */
int db_commit(PGconn *conn);    /* 0 or -1 */
void db_rollback(PGconn *conn);

/* 0 when a fresh connection can run "SELECT 1", else -1. Blocks: call it from a worker
 * (e.g. a periodic check whose result /readyz reports), never from the loop. */
int db_ping(const char *dsn);

#endif
