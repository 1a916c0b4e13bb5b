#ifndef PAYSTREAM_CSQLITESESSION_H
#define PAYSTREAM_CSQLITESESSION_H

// SQLite's session extension, as Paystream uses it: one session per shard write transaction
// (every table but the local `changelog_` ones), its patchset taken before COMMIT, and patchsets
// applied to another copy of the shard. Debian's libsqlite3 has the extension compiled in, but
// its header declares the API only under SQLITE_ENABLE_SESSION: session.c defines that and
// includes the real header, so these wrappers are checked against SQLite's own prototypes.
// Handles are opaque pointers here (`sqlite3 *` is GRDB's `db.sqliteConnection`).

#include <stddef.h>

typedef struct ps_session ps_session;

/// Starts capturing every change to tables of `db` ("main") whose name does not start with
/// "changelog_" and that have a primary key. Returns an SQLite result code.
int ps_session_start(void *db, ps_session **out);

/// The patchset of everything captured so far (rows written in a rolled-back savepoint are not
/// in it): `*bytes` is owned by SQLite, freed with `ps_free`. An empty capture gives 0 bytes.
int ps_session_patchset(ps_session *session, int *count, void **bytes);

/// Whether nothing was captured.
int ps_session_is_empty(ps_session *session);

void ps_session_end(ps_session *session);

void ps_free(void *bytes);

/// What stopped `ps_apply_patchset`: the conflict kind (SQLITE_CHANGESET_DATA = 1, NOTFOUND = 2,
/// CONFLICT = 3, CONSTRAINT = 4, FOREIGN_KEY = 5; 0 for none) and the table it was on.
typedef struct {
    int conflict;
    char table[128];
} ps_apply_result;

/// Applies a patchset to `db` inside the caller's transaction (SQLite wraps it in a savepoint).
/// Any conflict aborts the apply: a copy restored in log order never has one, so one means the
/// copy and the log diverged. Tables whose name starts with "changelog_" are skipped.
int ps_apply_patchset(void *db, int count, const void *bytes, ps_apply_result *result);

#endif
