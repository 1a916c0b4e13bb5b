// The changelog's capture: a transaction's row changes taken from SQLite's pre-update hook and
// written out as a patchset in the session extension's format (so `ps_apply_patchset`, i.e.
// sqlite3changeset_apply, applies it). See CSQLiteSession.h for the contract.
//
// Why not the session extension: it reads every changed row back when the patchset is taken,
// preparing one SELECT per table per transaction (and a PRAGMA per table per session), and each
// prepare runs the connection's authorizer (GRDB's, in Swift, per column read). The hook already
// hands over every new value, so nothing is read back and nothing is prepared after a table's
// first change on the connection.
//
// The log is append-only: every hooked change is one entry (table, operation, the primary key's
// values, the new row's values, the columns an UPDATE changed). A savepoint remembers the log's
// length; rolling back to it cuts the log there. The patchset is made at the end by folding each
// row's entries into its net change, as the session extension does: inserted then deleted is
// nothing, inserted then updated is an insert of the last values, updated is an update of the
// columns that changed, a row deleted and inserted again is an update of every column.

#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "CSQLiteSession.h"

typedef struct {
    unsigned char *bytes;
    size_t count;
    size_t capacity;
} ps_buffer;

static int buffer_reserve(ps_buffer *buffer, size_t more) {
    if (buffer->count + more <= buffer->capacity) return SQLITE_OK;
    size_t capacity = buffer->capacity ? buffer->capacity : 4096;
    while (capacity < buffer->count + more) capacity *= 2;
    unsigned char *bytes = realloc(buffer->bytes, capacity);
    if (bytes == NULL) return SQLITE_NOMEM;
    buffer->bytes = bytes;
    buffer->capacity = capacity;
    return SQLITE_OK;
}

static int buffer_append(ps_buffer *buffer, const void *bytes, size_t count) {
    int rc = buffer_reserve(buffer, count);
    if (rc != SQLITE_OK) return rc;
    if (count > 0) memcpy(buffer->bytes + buffer->count, bytes, count);
    buffer->count += count;
    return SQLITE_OK;
}

static int buffer_byte(ps_buffer *buffer, unsigned char byte) { return buffer_append(buffer, &byte, 1); }

/// SQLite's varint (sqlite3PutVarint): 7 bits a byte, most significant first, high bit = more;
/// a ninth byte carries 8 bits.
static int buffer_varint(ps_buffer *buffer, uint64_t value) {
    unsigned char bytes[10];
    int count = 0;
    if (value & ((uint64_t)0xff000000 << 32)) {
        unsigned char out[9];
        out[8] = (unsigned char)value;
        value >>= 8;
        for (int i = 7; i >= 0; i--) {
            out[i] = (unsigned char)((value & 0x7f) | 0x80);
            value >>= 7;
        }
        return buffer_append(buffer, out, 9);
    }
    do {
        bytes[count++] = (unsigned char)((value & 0x7f) | 0x80);
        value >>= 7;
    } while (value != 0);
    bytes[0] &= 0x7f;
    unsigned char out[10];
    for (int i = 0; i < count; i++) out[i] = bytes[count - 1 - i];
    return buffer_append(buffer, out, (size_t)count);
}

static int buffer_int64(ps_buffer *buffer, uint64_t value) {
    unsigned char out[8];
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)value;
        value >>= 8;
    }
    return buffer_append(buffer, out, 8);
}

/// One value in the session format: type byte (1 integer, 2 real, 3 text, 4 blob, 5 null), then
/// 8 big-endian bytes or a varint length and the bytes.
static int buffer_value(ps_buffer *buffer, sqlite3_value *value) {
    int type = sqlite3_value_type(value);
    int rc = buffer_byte(buffer, (unsigned char)type);
    if (rc != SQLITE_OK) return rc;
    switch (type) {
    case SQLITE_INTEGER:
        return buffer_int64(buffer, (uint64_t)sqlite3_value_int64(value));
    case SQLITE_FLOAT: {
        double real = sqlite3_value_double(value);
        uint64_t bits;
        memcpy(&bits, &real, 8);
        return buffer_int64(buffer, bits);
    }
    case SQLITE_TEXT: {
        // The bytes as stored (shards are UTF-8, which SQLite never changes after creation):
        // sqlite3_value_text would first copy a value read from a page to NUL-terminate it.
        const void *text = sqlite3_value_blob(value);
        int count = sqlite3_value_bytes(value);
        if (text == NULL && count > 0) return SQLITE_NOMEM;
        rc = buffer_varint(buffer, (uint64_t)count);
        return rc == SQLITE_OK ? buffer_append(buffer, text, (size_t)count) : rc;
    }
    case SQLITE_BLOB: {
        const void *blob = sqlite3_value_blob(value);
        int count = sqlite3_value_bytes(value);
        if (blob == NULL && count > 0) return SQLITE_NOMEM;
        rc = buffer_varint(buffer, (uint64_t)count);
        return rc == SQLITE_OK ? buffer_append(buffer, blob, (size_t)count) : rc;
    }
    default:
        return SQLITE_OK;
    }
}

/// The length of the serialized value at `bytes`.
static size_t value_length(const unsigned char *bytes) {
    switch (bytes[0]) {
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
        return 9;
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
        uint64_t count = 0;
        size_t at = 1;
        for (int i = 0; i < 9; i++) {
            unsigned char byte = bytes[at++];
            if (i == 8) {
                count = (count << 8) | byte;
                break;
            }
            count = (count << 7) | (byte & 0x7f);
            if (!(byte & 0x80)) break;
        }
        return at + (size_t)count;
    }
    default:
        return 1;
    }
}

static int same_value(sqlite3_value *a, sqlite3_value *b) {
    int type = sqlite3_value_type(a);
    if (type != sqlite3_value_type(b)) return 0;
    switch (type) {
    case SQLITE_INTEGER:
        return sqlite3_value_int64(a) == sqlite3_value_int64(b);
    case SQLITE_FLOAT: {
        double x = sqlite3_value_double(a), y = sqlite3_value_double(b);
        return memcmp(&x, &y, 8) == 0;
    }
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
        // Text compared as its stored bytes, like `buffer_value` writes it.
        const void *x = sqlite3_value_blob(a);
        int xn = sqlite3_value_bytes(a);
        const void *y = sqlite3_value_blob(b);
        int yn = sqlite3_value_bytes(b);
        return xn == yn && (xn == 0 || memcmp(x, y, (size_t)xn) == 0);
    }
    default:
        return 1;
    }
}

// MARK: - tables

typedef struct {
    char *name;
    int columns;
    /// Per column: its place in the primary key (1, 2, …), 0 if not in it (as the session writes).
    unsigned char *primaryKey;
    /// Captured: has a primary key, is in "main", is not a local `changelog_` or SQLite table.
    int captured;
} ps_table;

// MARK: - the log

typedef struct {
    int table;
    int op;              // SQLITE_INSERT, SQLITE_UPDATE or SQLITE_DELETE (a change of key is split)
    size_t key;          // offset of the key's values in the arena (primary key columns in column order)
    size_t keyLength;
    size_t row;          // offset of the new row's values (insert, update)
    size_t rowLength;
    size_t changed;      // offset of one byte per column, 1 where an update changed it
} ps_entry;

typedef struct {
    size_t entries;
    size_t arena;
    int64_t hooked;
    int64_t counted;             // changes SQLite counted in the capture so far (total - base)
} ps_mark;

struct ps_capture {
    sqlite3 *db;
    ps_capture *next;
    int active;
    int rc;                      // the first failure inside the hook: the transaction must not commit
    ps_table *tables;
    int tableCount;
    ps_entry *entries;
    size_t entryCount;
    size_t entryCapacity;
    ps_buffer arena;
    ps_mark *marks;
    int markCount;
    int markCapacity;
    int64_t hooked;              // hook calls since begin (every table), for the count check
    int64_t totalChangesBase;    // sqlite3_total_changes64 at begin, moved past rolled-back spans
    int64_t lastHooked;          // the last finish's two counts (for its error message)
    int64_t lastCounted;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static ps_capture *registry = NULL;

static ps_capture *find_capture(sqlite3 *db) {
    pthread_mutex_lock(&registry_lock);
    ps_capture *capture = registry;
    while (capture != NULL && capture->db != db) capture = capture->next;
    pthread_mutex_unlock(&registry_lock);
    return capture;
}

static void forget_tables(ps_capture *capture) {
    for (int i = 0; i < capture->tableCount; i++) {
        free(capture->tables[i].name);
        free(capture->tables[i].primaryKey);
    }
    free(capture->tables);
    capture->tables = NULL;
    capture->tableCount = 0;
}

/// Columns and primary key of `name` from PRAGMA table_info (once per table per connection, and
/// again if its column count changed).
static int load_table(ps_capture *capture, ps_table *table, const char *name) {
    table->captured = 0;
    table->columns = 0;
    free(table->primaryKey);
    table->primaryKey = NULL;
    if (strncmp(name, "changelog_", 10) == 0 || strncmp(name, "sqlite_", 7) == 0) return SQLITE_OK;
    char *sql = sqlite3_mprintf("PRAGMA main.table_info(%Q)", name);
    if (sql == NULL) return SQLITE_NOMEM;
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(capture->db, sql, -1, &statement, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return rc;
    int capacity = 16, count = 0, keyed = 0;
    unsigned char *primaryKey = malloc((size_t)capacity);
    if (primaryKey == NULL) {
        sqlite3_finalize(statement);
        return SQLITE_NOMEM;
    }
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        if (count == capacity) {
            capacity *= 2;
            unsigned char *grown = realloc(primaryKey, (size_t)capacity);
            if (grown == NULL) {
                free(primaryKey);
                sqlite3_finalize(statement);
                return SQLITE_NOMEM;
            }
            primaryKey = grown;
        }
        int place = sqlite3_column_int(statement, 5);
        primaryKey[count++] = (unsigned char)place;
        if (place > 0) keyed = 1;
    }
    sqlite3_finalize(statement);
    if (rc != SQLITE_DONE) {
        free(primaryKey);
        return rc;
    }
    table->columns = count;
    table->primaryKey = primaryKey;
    table->captured = keyed && count > 0;
    return SQLITE_OK;
}

static int find_table(ps_capture *capture, const char *name, int columns, int *index) {
    for (int i = 0; i < capture->tableCount; i++) {
        if (strcmp(capture->tables[i].name, name) == 0) {
            *index = i;
            if (capture->tables[i].columns != columns && (capture->tables[i].captured || capture->tables[i].columns > 0)) {
                // The table's columns changed: entries of it already in the log have the old count.
                for (size_t e = 0; e < capture->entryCount; e++) {
                    if (capture->entries[e].table == i) return SQLITE_SCHEMA;
                }
                return load_table(capture, &capture->tables[i], name);
            }
            return SQLITE_OK;
        }
    }
    ps_table *tables = realloc(capture->tables, sizeof(ps_table) * (size_t)(capture->tableCount + 1));
    if (tables == NULL) return SQLITE_NOMEM;
    capture->tables = tables;
    ps_table *table = &tables[capture->tableCount];
    memset(table, 0, sizeof(*table));
    table->name = strdup(name);
    if (table->name == NULL) return SQLITE_NOMEM;
    *index = capture->tableCount++;
    return load_table(capture, table, name);
}

static int add_entry(ps_capture *capture, ps_entry entry) {
    if (capture->entryCount == capture->entryCapacity) {
        size_t capacity = capture->entryCapacity ? capture->entryCapacity * 2 : 256;
        ps_entry *entries = realloc(capture->entries, sizeof(ps_entry) * capacity);
        if (entries == NULL) return SQLITE_NOMEM;
        capture->entries = entries;
        capture->entryCapacity = capacity;
    }
    capture->entries[capture->entryCount++] = entry;
    return SQLITE_OK;
}

typedef int (*value_getter)(sqlite3 *, int, sqlite3_value **);

/// The key (primary key columns, in column order) of the old or new row, into the arena.
static int append_key(ps_capture *capture, ps_table *table, value_getter get, size_t *offset, size_t *length) {
    *offset = capture->arena.count;
    for (int i = 0; i < table->columns; i++) {
        if (!table->primaryKey[i]) continue;
        sqlite3_value *value = NULL;
        int rc = get(capture->db, i, &value);
        if (rc != SQLITE_OK) return rc;
        if ((rc = buffer_value(&capture->arena, value)) != SQLITE_OK) return rc;
    }
    *length = capture->arena.count - *offset;
    return SQLITE_OK;
}

static int append_row(ps_capture *capture, ps_table *table, size_t *offset, size_t *length) {
    *offset = capture->arena.count;
    for (int i = 0; i < table->columns; i++) {
        sqlite3_value *value = NULL;
        int rc = sqlite3_preupdate_new(capture->db, i, &value);
        if (rc != SQLITE_OK) return rc;
        if ((rc = buffer_value(&capture->arena, value)) != SQLITE_OK) return rc;
    }
    *length = capture->arena.count - *offset;
    return SQLITE_OK;
}

static int hook_change(ps_capture *capture, int op, const char *name) {
    int columns = sqlite3_preupdate_count(capture->db);
    int index = 0;
    int rc = find_table(capture, name, columns, &index);
    if (rc != SQLITE_OK) return rc;
    ps_table *table = &capture->tables[index];
    if (!table->captured) return SQLITE_OK;
    if (table->columns != columns) return SQLITE_SCHEMA;
    ps_entry entry = {.table = index, .op = op};
    if (op == SQLITE_INSERT) {
        if ((rc = append_key(capture, table, sqlite3_preupdate_new, &entry.key, &entry.keyLength)) != SQLITE_OK) return rc;
        if ((rc = append_row(capture, table, &entry.row, &entry.rowLength)) != SQLITE_OK) return rc;
        return add_entry(capture, entry);
    }
    if ((rc = append_key(capture, table, sqlite3_preupdate_old, &entry.key, &entry.keyLength)) != SQLITE_OK) return rc;
    if (op == SQLITE_DELETE) return add_entry(capture, entry);
    // An update: a changed key is the old row deleted and the new one inserted.
    size_t newKey = 0, newKeyLength = 0;
    if ((rc = append_key(capture, table, sqlite3_preupdate_new, &newKey, &newKeyLength)) != SQLITE_OK) return rc;
    if (newKeyLength != entry.keyLength
        || memcmp(capture->arena.bytes + newKey, capture->arena.bytes + entry.key, entry.keyLength) != 0) {
        entry.op = SQLITE_DELETE;
        if ((rc = add_entry(capture, entry)) != SQLITE_OK) return rc;
        ps_entry inserted = {.table = index, .op = SQLITE_INSERT, .key = newKey, .keyLength = newKeyLength};
        if ((rc = append_row(capture, table, &inserted.row, &inserted.rowLength)) != SQLITE_OK) return rc;
        return add_entry(capture, inserted);
    }
    capture->arena.count = newKey;  // the same key: keep one copy
    if ((rc = append_row(capture, table, &entry.row, &entry.rowLength)) != SQLITE_OK) return rc;
    entry.changed = capture->arena.count;
    if ((rc = buffer_reserve(&capture->arena, (size_t)columns)) != SQLITE_OK) return rc;
    for (int i = 0; i < columns; i++) {
        sqlite3_value *before = NULL, *after = NULL;
        if ((rc = sqlite3_preupdate_old(capture->db, i, &before)) != SQLITE_OK) return rc;
        if ((rc = sqlite3_preupdate_new(capture->db, i, &after)) != SQLITE_OK) return rc;
        capture->arena.bytes[capture->arena.count++] = same_value(before, after) ? 0 : 1;
    }
    return add_entry(capture, entry);
}

static void hook(void *context, sqlite3 *db, int op, const char *database, const char *name,
                 sqlite3_int64 oldKey, sqlite3_int64 newKey) {
    (void)db;
    (void)oldKey;
    (void)newKey;
    ps_capture *capture = (ps_capture *)context;
    if (!capture->active) return;
    capture->hooked++;
    if (capture->rc != SQLITE_OK || strcmp(database, "main") != 0) return;
    capture->rc = hook_change(capture, op, name);
}

// MARK: - the API

int ps_capture_begin(void *connection) {
    sqlite3 *db = (sqlite3 *)connection;
    ps_capture *capture = find_capture(db);
    if (capture == NULL) {
        capture = calloc(1, sizeof(ps_capture));
        if (capture == NULL) return SQLITE_NOMEM;
        capture->db = db;
        pthread_mutex_lock(&registry_lock);
        capture->next = registry;
        registry = capture;
        pthread_mutex_unlock(&registry_lock);
    }
    // Installed on every begin: another hook in its place (or a new connection at an address a
    // closed one had) would mean the cached table layouts may not be this connection's.
    void *previous = sqlite3_preupdate_hook(db, hook, capture);
    if (previous != capture) forget_tables(capture);
    capture->active = 1;
    capture->rc = SQLITE_OK;
    capture->entryCount = 0;
    capture->arena.count = 0;
    capture->markCount = 0;
    capture->hooked = 0;
    capture->totalChangesBase = sqlite3_total_changes64(db);
    return SQLITE_OK;
}

int ps_capture_savepoint(void *connection) {
    ps_capture *capture = find_capture((sqlite3 *)connection);
    if (capture == NULL || !capture->active) return SQLITE_OK;
    if (capture->markCount == capture->markCapacity) {
        int capacity = capture->markCapacity ? capture->markCapacity * 2 : 8;
        ps_mark *marks = realloc(capture->marks, sizeof(ps_mark) * (size_t)capacity);
        if (marks == NULL) return capture->rc = SQLITE_NOMEM;
        capture->marks = marks;
        capture->markCapacity = capacity;
    }
    capture->marks[capture->markCount++] = (ps_mark){
        .entries = capture->entryCount, .arena = capture->arena.count, .hooked = capture->hooked,
        .counted = sqlite3_total_changes64(capture->db) - capture->totalChangesBase};
    return SQLITE_OK;
}

int ps_capture_rollback_to(void *connection) {
    ps_capture *capture = find_capture((sqlite3 *)connection);
    if (capture == NULL || !capture->active) return SQLITE_OK;
    if (capture->markCount == 0) return capture->rc = SQLITE_MISUSE;
    ps_mark *mark = &capture->marks[capture->markCount - 1];
    capture->entryCount = mark->entries;
    capture->arena.count = mark->arena;
    capture->hooked = mark->hooked;
    // Changes SQLite counted inside the rolled-back span are gone again (nested spans included).
    capture->totalChangesBase = sqlite3_total_changes64(capture->db) - mark->counted;
    return SQLITE_OK;
}

int ps_capture_release(void *connection) {
    ps_capture *capture = find_capture((sqlite3 *)connection);
    if (capture == NULL || !capture->active) return SQLITE_OK;
    if (capture->markCount == 0) return capture->rc = SQLITE_MISUSE;
    capture->markCount--;
    return SQLITE_OK;
}

// MARK: - the patchset

typedef struct {
    size_t first;        // the row's first entry (its key)
    size_t last;         // the row's last entry (its latest values)
    int existedBefore;
    int existsNow;
    int rewritten;       // deleted and inserted again: every column counts as changed
    size_t changed;      // offset of a per-column "changed" accumulation in `flags`
    size_t next;         // the next row of the same table, in first-change order (+1; 0 = none)
} ps_row;

static uint64_t hash_key(int table, const unsigned char *bytes, size_t count) {
    uint64_t hash = 1469598103934665603ULL ^ (uint64_t)(unsigned)table;
    for (size_t i = 0; i < count; i++) {
        hash ^= bytes[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

static int write_row_values(ps_buffer *out, const unsigned char *row, int columns, const ps_table *table,
                            const unsigned char *changed, int everyColumn) {
    const unsigned char *at = row;
    for (int i = 0; i < columns; i++) {
        size_t length = value_length(at);
        int rc;
        if (table->primaryKey[i] || everyColumn || (changed != NULL && changed[i])) {
            rc = buffer_append(out, at, length);
        } else {
            rc = buffer_byte(out, 0);
        }
        if (rc != SQLITE_OK) return rc;
        at += length;
    }
    return SQLITE_OK;
}

static int make_patchset(ps_capture *capture, ps_buffer *out) {
    size_t count = capture->entryCount;
    if (count == 0) return SQLITE_OK;
    size_t slots = 16;
    while (slots < count * 2) slots *= 2;
    size_t *index = calloc(slots, sizeof(size_t));             // row number + 1
    ps_row *rows = malloc(sizeof(ps_row) * count);
    unsigned char *flags = malloc(count > 0 ? count : 1);      // placeholder, resized below
    size_t flagCount = 0, flagCapacity = count > 0 ? count : 1;
    size_t *firstOfTable = calloc((size_t)capture->tableCount, sizeof(size_t));
    size_t *lastOfTable = calloc((size_t)capture->tableCount, sizeof(size_t));
    int *tableOrder = malloc(sizeof(int) * (size_t)(capture->tableCount > 0 ? capture->tableCount : 1));
    int tablesSeen = 0;
    int rc = SQLITE_OK;
    if (!index || !rows || !flags || !firstOfTable || !lastOfTable || !tableOrder) {
        rc = SQLITE_NOMEM;
        goto done;
    }
    size_t rowCount = 0;
    const unsigned char *arena = capture->arena.bytes;
    for (size_t e = 0; e < count && rc == SQLITE_OK; e++) {
        const ps_entry *entry = &capture->entries[e];
        const ps_table *table = &capture->tables[entry->table];
        uint64_t hash = hash_key(entry->table, arena + entry->key, entry->keyLength);
        size_t slot = (size_t)hash & (slots - 1);
        ps_row *row = NULL;
        while (index[slot] != 0) {
            ps_row *candidate = &rows[index[slot] - 1];
            const ps_entry *first = &capture->entries[candidate->first];
            if (first->table == entry->table && first->keyLength == entry->keyLength
                && memcmp(arena + first->key, arena + entry->key, entry->keyLength) == 0) {
                row = candidate;
                break;
            }
            slot = (slot + 1) & (slots - 1);
        }
        if (row == NULL) {
            row = &rows[rowCount];
            memset(row, 0, sizeof(*row));
            row->first = e;
            row->existedBefore = entry->op != SQLITE_INSERT;
            row->existsNow = row->existedBefore;
            if (flagCount + (size_t)table->columns > flagCapacity) {
                while (flagCount + (size_t)table->columns > flagCapacity) flagCapacity *= 2;
                unsigned char *grown = realloc(flags, flagCapacity);
                if (grown == NULL) {
                    rc = SQLITE_NOMEM;
                    break;
                }
                flags = grown;
            }
            row->changed = flagCount;
            memset(flags + flagCount, 0, (size_t)table->columns);
            flagCount += (size_t)table->columns;
            index[slot] = ++rowCount;
            if (lastOfTable[entry->table] == 0) {
                firstOfTable[entry->table] = rowCount;
                tableOrder[tablesSeen++] = entry->table;
            } else {
                rows[lastOfTable[entry->table] - 1].next = rowCount;
            }
            lastOfTable[entry->table] = rowCount;
        }
        row->last = e;
        switch (entry->op) {
        case SQLITE_INSERT:
            if (!row->existsNow && row->existedBefore) row->rewritten = 1;
            row->existsNow = 1;
            break;
        case SQLITE_UPDATE:
            row->existsNow = 1;
            for (int i = 0; i < table->columns; i++) flags[row->changed + (size_t)i] |= arena[entry->changed + (size_t)i];
            break;
        default:
            row->existsNow = 0;
            break;
        }
    }
    for (int t = 0; t < tablesSeen && rc == SQLITE_OK; t++) {
        int tableIndex = tableOrder[t];
        const ps_table *table = &capture->tables[tableIndex];
        size_t rewind = out->count;
        int written = 0;
        if ((rc = buffer_byte(out, 'P')) != SQLITE_OK) break;
        if ((rc = buffer_varint(out, (uint64_t)table->columns)) != SQLITE_OK) break;
        if ((rc = buffer_append(out, table->primaryKey, (size_t)table->columns)) != SQLITE_OK) break;
        if ((rc = buffer_append(out, table->name, strlen(table->name) + 1)) != SQLITE_OK) break;
        for (size_t r = firstOfTable[tableIndex]; r != 0 && rc == SQLITE_OK; r = rows[r - 1].next) {
            const ps_row *row = &rows[r - 1];
            const ps_entry *first = &capture->entries[row->first];
            const ps_entry *last = &capture->entries[row->last];
            if (!row->existedBefore && row->existsNow) {
                rc = buffer_byte(out, SQLITE_INSERT);
                if (rc == SQLITE_OK) rc = buffer_byte(out, 0);
                if (rc == SQLITE_OK) rc = buffer_append(out, arena + last->row, last->rowLength);
                written = 1;
            } else if (row->existedBefore && !row->existsNow) {
                rc = buffer_byte(out, SQLITE_DELETE);
                if (rc == SQLITE_OK) rc = buffer_byte(out, 0);
                if (rc == SQLITE_OK) rc = buffer_append(out, arena + first->key, first->keyLength);
                written = 1;
            } else if (row->existedBefore && row->existsNow) {
                const unsigned char *changed = flags + row->changed;
                int any = row->rewritten;
                for (int i = 0; i < table->columns && !any; i++) any = changed[i] && !table->primaryKey[i];
                if (!any) continue;
                rc = buffer_byte(out, SQLITE_UPDATE);
                if (rc == SQLITE_OK) rc = buffer_byte(out, 0);
                if (rc == SQLITE_OK) rc = write_row_values(out, arena + last->row, table->columns, table, changed, row->rewritten);
                written = 1;
            }
        }
        if (rc == SQLITE_OK && !written) out->count = rewind;
    }
done:
    free(index);
    free(rows);
    free(flags);
    free(firstOfTable);
    free(lastOfTable);
    free(tableOrder);
    return rc;
}

int ps_capture_finish(void *connection, int *count, void **bytes) {
    sqlite3 *db = (sqlite3 *)connection;
    *count = 0;
    *bytes = NULL;
    ps_capture *capture = find_capture(db);
    if (capture == NULL || !capture->active) return SQLITE_MISUSE;
    capture->active = 0;
    if (capture->rc != SQLITE_OK) return capture->rc;
    // Every change SQLite counted must have reached the hook and every hooked change must have
    // been counted: a statement that failed after changing rows (its changes undone, not
    // counted) inside no savepoint the capture was told of would otherwise leave rows in the
    // log that the database does not have.
    capture->lastHooked = capture->hooked;
    capture->lastCounted = sqlite3_total_changes64(db) - capture->totalChangesBase;
    if (capture->lastCounted != capture->hooked) return PS_CAPTURE_UNTRACKED_ROLLBACK;
    ps_buffer out = {0};
    int rc = make_patchset(capture, &out);
    if (rc != SQLITE_OK || out.count == 0) {
        free(out.bytes);
        return rc;
    }
    *bytes = out.bytes;
    *count = (int)out.count;
    return SQLITE_OK;
}

void ps_capture_counts(void *connection, long long *hooked, long long *counted) {
    ps_capture *capture = find_capture((sqlite3 *)connection);
    *hooked = capture ? capture->lastHooked : 0;
    *counted = capture ? capture->lastCounted : 0;
}

void ps_capture_cancel(void *connection) {
    ps_capture *capture = find_capture((sqlite3 *)connection);
    if (capture != NULL) capture->active = 0;
}

void ps_capture_close(void *connection) {
    sqlite3 *db = (sqlite3 *)connection;
    pthread_mutex_lock(&registry_lock);
    ps_capture **link = &registry;
    while (*link != NULL && (*link)->db != db) link = &(*link)->next;
    ps_capture *capture = *link;
    if (capture != NULL) *link = capture->next;
    pthread_mutex_unlock(&registry_lock);
    if (capture == NULL) return;
    forget_tables(capture);
    free(capture->entries);
    free(capture->arena.bytes);
    free(capture->marks);
    free(capture);
}

void ps_capture_free(void *bytes) { free(bytes); }
