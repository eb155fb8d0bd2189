/*
 * schema.h - the SQL migrations of schema/, embedded at build time.
 *
 * DESIGN: schema/NNN_name.sql files are turned into a C array by
 * daemon/store/embed_sql.py (a meson custom_target); migration i (1-based) takes a
 * database from PRAGMA user_version i-1 to i.
 */
#ifndef HTGAD_SCHEMA_H
#define HTGAD_SCHEMA_H

typedef struct schema_migration {
    const char *name;
    const char *sql;
} schema_migration;

extern const schema_migration schema_migrations[];
extern const int schema_migration_count;

#endif /* HTGAD_SCHEMA_H */
