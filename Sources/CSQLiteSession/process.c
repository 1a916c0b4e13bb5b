// Process-wide SQLite settings, made before the process opens its first connection.
// sqlite3_config is variadic, so Swift cannot call it: these wrappers do.

#include <sqlite3.h>

int ps_sqlite_memory_statistics_off(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
