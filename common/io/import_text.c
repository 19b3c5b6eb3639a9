/* import_text.c — what the text importers share (declared in importers.h).
 * A file of its own so that import_xyz.c and import_qm9.c both call down into
 * it instead of into each other. */
#include "common/io/importers.h"

/* Both formats are whitespace-separated columns. */
int elign_import_split_ws(char *s, char **tok, int max) {
  int n = 0;
  while (*s) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) break;
    if (n == max) return max + 1;
    tok[n++] = s;
    while (*s && *s != ' ' && *s != '\t') s++;
    if (*s) *s++ = '\0';
  }
  return n;
}
