/* db: per-thread PostgreSQL connections behind db.h. A thread-local PGconn needs no lock,
 * and a broken one is dropped and reopened on the next db_conn(), never earlier: callers
 * still hold the handle after a failed statement (to roll back), so freeing it on the
 * failure itself would leave them a dangling pointer. */
#include "db/db.h"
#include "config/config.h"
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local PGconn *db_thread;
/* Statements prepared on db_thread (db_exec_prepared), by the address of their SQL text;
 * they die with the connection. */
#define DB_PREPARED_MAX 32
static _Thread_local const char *db_prepared[DB_PREPARED_MAX];
static _Thread_local int db_nprepared;

static void db_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs (e.g. "relation already exists") are not ours to log. */
}

PGconn *db_conn(void)
{
    if (db_thread && PQstatus(db_thread) == CONNECTION_OK)
        return db_thread;
    if (db_thread) {
        PQfinish(db_thread);
        db_thread = NULL;
    }
    db_nprepared = 0;
    const char *dsn = config_str("MAILSTACK_PG_DSN", "dbname=mailstack");
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        char err[512];
        snprintf(err, sizeof(err), "%s", PQerrorMessage(c));
        err[strcspn(err, "\n")] = 0;
        log_emit(LOG_ERROR, "db.connect_failed", "error", err, NULL);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, db_notice, NULL);
    db_thread = c;
    return c;
}

void db_close_thread(void)
{
    if (db_thread)
        PQfinish(db_thread);
    db_thread = NULL;
    db_nprepared = 0;
}

/* r when it succeeded; else logs its error, frees it and returns NULL. */
static PGresult *db_checked(PGresult *r, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    char err[512];
    snprintf(err, sizeof(err), "%s", PQresultErrorMessage(r));
    err[strcspn(err, "\n")] = 0;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    log_emit(LOG_ERROR, "db.query_failed", "query", what, "sqlstate", state, "error", err, NULL);
    PQclear(r);
    return NULL;
}

PGresult *db_query(PGconn *conn, const char *what, const char *sql, int n,
                   const char *const *params, const int *lengths, const int *formats,
                   int binary_result)
{
    return db_checked(PQexecParams(conn, sql, n, NULL, params, lengths, formats, binary_result),
                      what);
}

PGresult *db_exec_prepared(PGconn *conn, const char *what, const char *sql, int n,
                           const char *const *params)
{
    if (conn != db_thread)
        return db_exec(conn, what, sql, n, params);
    int i = 0;
    while (i < db_nprepared && db_prepared[i] != sql)
        i++;
    if (i == DB_PREPARED_MAX)
        return db_exec(conn, what, sql, n, params);
    char name[16];
    snprintf(name, sizeof(name), "db_%d", i);
    if (i == db_nprepared) {
        PGresult *p = db_checked(PQprepare(conn, name, sql, n, NULL), what);
        if (!p)
            return NULL;
        PQclear(p);
        db_prepared[db_nprepared++] = sql;
    }
    return db_checked(PQexecPrepared(conn, name, n, params, NULL, NULL, 0), what);
}

PGresult *db_exec_bin(PGconn *conn, const char *what, const char *sql, int n,
                      const char *const *params, const int *lengths, const int *formats)
{
    return db_query(conn, what, sql, n, params, lengths, formats, 0);
}

PGresult *db_exec(PGconn *conn, const char *what, const char *sql, int n,
                  const char *const *params)
{
    return db_exec_bin(conn, what, sql, n, params, NULL, NULL);
}

static int db_simple(PGconn *conn, const char *sql)
{
    PGresult *r = db_exec(conn, sql, sql, 0, NULL);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int db_begin(PGconn *conn)
{
    return db_simple(conn, "BEGIN");
}

int db_commit(PGconn *conn)
{
    return db_simple(conn, "COMMIT");
}

void db_rollback(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "ROLLBACK"));
}

int db_ping(const char *dsn)
{
    PGconn *c = PQconnectdb(dsn ? dsn : config_str("MAILSTACK_PG_DSN", "dbname=mailstack"));
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, "SELECT 1");
        ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
    }
    PQfinish(c);
    return ok ? 0 : -1;
}
