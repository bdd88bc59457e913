/* testlib internals shared by its files (not for tests). */
#ifndef ASSETD_TL_INTERNAL_H
#define ASSETD_TL_INTERNAL_H

/* A testlib step failed (tl_finish will fail the binary). */
void tl__note_failure(void);
/* sodium_init() or abort. */
void tl__sodium(void);
void tl__env_free(char **env);
void tl__print_log(const char *name, const char *path, int max_lines);
void tl__db_close(void);
void tl__http_cleanup(void);

#endif
