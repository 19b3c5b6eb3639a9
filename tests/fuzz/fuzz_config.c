/* fuzz_config.c — libFuzzer target: the YAML config loader
 * (elign_config_load: libyaml, then the schema's keys, types and ranges).
 * A config it accepts must write back (elign_config_write_yaml) as YAML that
 * loads again to the same resolved text: a value the loader takes but the
 * writer cannot reproduce is a silently different run.
 * Seeds: tests/fuzz/corpus/yaml/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base/config.h"
#include "tests/fuzz/fuzz_common.h"

/* The resolved YAML of cfg (malloc'ed). */
static char *resolved_text(const elign_config *cfg, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  elign_config_write_yaml(cfg, f, 0);
  fclose(f);
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write_input(data, size, ".yaml");
  elign_error err;
  elign_error_clear(&err);
  elign_config *cfg = NULL;
  elign_status st = elign_config_load(path, NULL, 0, &cfg, &err);
  fuzz_check_result(st, &err, path, "elign_config_load");
  if (st != ELIGN_OK) {
    if (cfg) fuzz_fail("elign_config_load failed but returned a config");
    return 0;
  }
  size_t len1, len2;
  char *text1 = resolved_text(cfg, &len1);
  elign_config_free(&cfg);
  const uint8_t *again = (const uint8_t *)text1;
  const char *path2 = fuzz_write_input(again, len1, ".yaml");
  elign_error_clear(&err);
  st = elign_config_load(path2, NULL, 0, &cfg, &err);
  if (st != ELIGN_OK) fuzz_fail("the resolved YAML of an accepted config does not load: %s", err.msg);
  char *text2 = resolved_text(cfg, &len2);
  if (len1 != len2 || memcmp(text1, text2, len1) != 0)
    fuzz_fail("an accepted config does not survive write + load:\n%s\n--- became ---\n%s", text1, text2);
  elign_config_free(&cfg);
  free(text1);
  free(text2);
  return 0;
}
