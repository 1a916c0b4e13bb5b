#ifndef PAYSTREAM_CSQLITESESSION_H
#define PAYSTREAM_CSQLITESESSION_H

// A shard's changelog at the SQLite level: a write transaction's changes captured from the
// pre-update hook as a patchset in the session extension's format (capture.c), and patchsets
// applied to another copy of the shard with the session extension's sqlite3changeset_apply
// (session.c). Debian's libsqlite3 has both compiled in, but its header declares them only under
// SQLITE_ENABLE_SESSION / SQLITE_ENABLE_PREUPDATE_HOOK: the .c files define those and include
// the real header, so these wrappers are checked against SQLite's own prototypes. Handles are
// opaque pointers here (`sqlite3 *` is GRDB's `db.sqliteConnection`).

#include <stddef.h>

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

// MARK: - the capture

/// `ps_capture_finish` found changes the hook saw that SQLite did not count, or the reverse: a
/// statement failed (or a savepoint was rolled back) without the capture being told, so the
/// captured rows may not be the database's.
#define PS_CAPTURE_UNTRACKED_ROLLBACK 10000

typedef struct ps_capture ps_capture;

/// Starts capturing the changes of the connection's current write transaction to every table of
/// "main" that has a primary key, except SQLite's own and the local "changelog_" ones: SQLite's
/// pre-update hook records each change as it is made (nothing is read back). One capture per
/// connection, kept between transactions (it remembers table layouts); returns an SQLite code.
int ps_capture_begin(void *db);

/// The connection opened a savepoint / rolled back to its newest one (which stays open) /
/// released it. Whoever runs SAVEPOINT, ROLLBACK TO and RELEASE inside a captured transaction
/// must say so here, or `ps_capture_finish` refuses the transaction. No-ops without a capture.
int ps_capture_savepoint(void *db);
int ps_capture_rollback_to(void *db);
int ps_capture_release(void *db);

/// The transaction's patchset in the session extension's format (what `ps_apply_patchset`
/// applies), and the end of the capture: `*bytes` is freed with `ps_capture_free`; nothing
/// captured gives 0 bytes and NULL. Returns an SQLite code, or PS_CAPTURE_UNTRACKED_ROLLBACK.
int ps_capture_finish(void *db, int *count, void **bytes);

/// The changes the hook saw and SQLite counted in the transaction the last `ps_capture_finish`
/// ended (what PS_CAPTURE_UNTRACKED_ROLLBACK compared).
void ps_capture_counts(void *db, long long *hooked, long long *counted);

/// Ends the capture without a patchset (the transaction is rolled back).
void ps_capture_cancel(void *db);

/// Forgets the connection's capture; call once the connection is closed (the hook is not
/// touched: the connection is gone).
void ps_capture_close(void *db);

void ps_capture_free(void *bytes);

// MARK: - the process

/// Turns off SQLite's memory statistics (SQLITE_CONFIG_MEMSTATUS): with them on, every
/// allocation and free SQLite makes takes a process-wide mutex to count bytes. Only before SQLite
/// is initialized (the process's first connection): SQLITE_MISUSE after, changing nothing. Not
/// thread-safe: call it while nothing else in the process uses SQLite.
int ps_sqlite_memory_statistics_off(void);

#endif
