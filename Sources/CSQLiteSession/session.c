#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <string.h>
#include "CSQLiteSession.h"

static int is_local_table(const char *name) {
    return name != NULL && strncmp(name, "changelog_", 10) == 0;
}

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
