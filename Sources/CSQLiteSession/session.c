#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <string.h>
#include "CSQLiteSession.h"

static int is_local_table(const char *name) {
    return name != NULL && strncmp(name, "changelog_", 10) == 0;
}

static int capture_filter(void *context, const char *table) {
    (void)context;
    return !is_local_table(table);
}

int ps_session_start(void *db, ps_session **out) {
    sqlite3_session *session = NULL;
    int rc = sqlite3session_create((sqlite3 *)db, "main", &session);
    if (rc != SQLITE_OK) return rc;
    sqlite3session_table_filter(session, capture_filter, NULL);
    rc = sqlite3session_attach(session, NULL);
    if (rc != SQLITE_OK) {
        sqlite3session_delete(session);
        return rc;
    }
    *out = (ps_session *)session;
    return SQLITE_OK;
}

int ps_session_patchset(ps_session *session, int *count, void **bytes) {
    return sqlite3session_patchset((sqlite3_session *)session, count, bytes);
}

int ps_session_is_empty(ps_session *session) {
    return sqlite3session_isempty((sqlite3_session *)session);
}

void ps_session_end(ps_session *session) {
    sqlite3session_delete((sqlite3_session *)session);
}

void ps_free(void *bytes) { sqlite3_free(bytes); }

static int apply_filter(void *context, const char *table) {
    (void)context;
    return !is_local_table(table);
}

static int apply_conflict(void *context, int kind, sqlite3_changeset_iter *iterator) {
    ps_apply_result *result = (ps_apply_result *)context;
    if (result->conflict == 0) {
        const char *table = NULL;
        int columns = 0, op = 0, indirect = 0;
        result->conflict = kind;
        if (sqlite3changeset_op(iterator, &table, &columns, &op, &indirect) == SQLITE_OK && table != NULL) {
            strncpy(result->table, table, sizeof(result->table) - 1);
            result->table[sizeof(result->table) - 1] = 0;
        }
    }
    return SQLITE_CHANGESET_ABORT;
}

int ps_apply_patchset(void *db, int count, const void *bytes, ps_apply_result *result) {
    memset(result, 0, sizeof(*result));
    return sqlite3changeset_apply((sqlite3 *)db, count, (void *)bytes, apply_filter, apply_conflict, result);
}
