/* test_error.c — the error context: formatting, prefixes, hints, clearing. */
#include <string.h>

#include "common/base/error.h"
#include "tests/testutil.h"

static elign_status open_missing(elign_error *err, const char *path) {
  return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open", path);
}

int main(void) {
  elign_error err;
  elign_error_clear(&err);
  CHECK(err.status == ELIGN_OK && err.msg[0] == '\0');

  CHECK(open_missing(&err, "a.h5") == ELIGN_ERR_IO);
  CHECK(err.status == ELIGN_ERR_IO);
  CHECK(strcmp(err.msg, "a.h5: cannot open") == 0);
  CHECK(err.src_line > 0);

  elign_error_prefix(&err, "dataset %d: ", 3);
  CHECK(strcmp(err.msg, "dataset 3: a.h5: cannot open") == 0);
  elign_error_hint(&err, "run %s first", "elign data import");
  CHECK(strcmp(err.hint, "run elign data import first") == 0);

  CHECK(ELIGN_FAIL(NULL, ELIGN_ERR_ARG, "dropped") == ELIGN_ERR_ARG); /* NULL context is allowed */
  /* A message is one line whatever it echoes (issue 8: a YAML scalar with a newline). */
  ELIGN_FAIL(&err, ELIGN_ERR_CONFIG, "c.yaml:3: not '%s'", "a\nb\rc\td");
  CHECK(strcmp(err.msg, "c.yaml:3: not 'a b c\td'") == 0);
  elign_error_prefix(&err, "x\n: ");
  CHECK(strcmp(err.msg, "x : c.yaml:3: not 'a b c\td'") == 0);
  CHECK(strcmp(elign_status_string(ELIGN_ERR_CONFIG), "config error") == 0);

  char *s = elign_strdup("abc", "test");
  CHECK(strcmp(s, "abc") == 0);
  elign_free(s);
  CHECK(s == NULL);
  return test_main_result("test_error");
}
