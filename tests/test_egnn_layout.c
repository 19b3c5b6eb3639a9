/* test_egnn_layout.c — the flat parameter buffer matches EDM's state_dict
 * (ALGORITHMS.md §1.8): key names, order, shapes and parameter counts. */
#include <stdio.h>
#include <string.h>

#include "common/model/egnn.h"
#include "tests/testutil.h"

static void check_shape(const egnn_model *m, const char *name, int rows, int cols) {
  const egnn_tensor *t = egnn_model_find(m, name);
  CHECK(t != NULL);
  if (!t) {
    fprintf(stderr, "missing %s\n", name);
    return;
  }
  CHECK(t->rows == rows && t->cols == cols);
}

int main(void) {
  elign_error err;
  egnn_model m;
  egnn_config q = egnn_config_qm9(), g = egnn_config_geom();
  CHECK(egnn_block_param_count(&q) == 592897);
  CHECK(egnn_model_init(&m, &q, &err) == ELIGN_OK);
  CHECK(m.n_tensors == 141 - 2);                    /* 141 keys minus buffer and gamma.gamma */
  CHECK(m.n_params == 5339920);                     /* the trainable count of §1.8 */
  CHECK(strcmp(m.tensors[0].name, "dynamics.egnn.embedding.weight") == 0);
  CHECK(strcmp(m.tensors[3].name, "dynamics.egnn.embedding_out.bias") == 0);
  CHECK(strcmp(m.tensors[4].name, "dynamics.egnn.e_block_0.gcl_0.edge_mlp.0.weight") == 0);
  CHECK(strcmp(m.tensors[m.n_tensors - 1].name, "dynamics.egnn.e_block_8.gcl_equiv.coord_mlp.4.weight") == 0);
  check_shape(&m, "dynamics.egnn.embedding.weight", 256, 7);
  check_shape(&m, "dynamics.egnn.embedding_out.weight", 7, 256);
  check_shape(&m, "dynamics.egnn.embedding_out.bias", 7, 0);
  check_shape(&m, "dynamics.egnn.e_block_3.gcl_0.edge_mlp.0.weight", 256, 514);
  check_shape(&m, "dynamics.egnn.e_block_3.gcl_0.node_mlp.0.weight", 256, 512);
  check_shape(&m, "dynamics.egnn.e_block_3.gcl_0.att_mlp.0.weight", 1, 256);
  check_shape(&m, "dynamics.egnn.e_block_3.gcl_0.att_mlp.0.bias", 1, 0);
  check_shape(&m, "dynamics.egnn.e_block_8.gcl_equiv.coord_mlp.0.weight", 256, 514);
  check_shape(&m, "dynamics.egnn.e_block_8.gcl_equiv.coord_mlp.4.weight", 1, 256);
  CHECK(egnn_model_find(&m, "dynamics.egnn.e_block_8.gcl_equiv.coord_mlp.4.bias") == NULL);
  CHECK(egnn_model_find(&m, "dynamics.egnn.e_block_9.gcl_0.edge_mlp.0.weight") == NULL);
  /* embedding 2,048 and embedding_out 1,799 parameters */
  CHECK(m.tensors[0].size + m.tensors[1].size == 2048);
  CHECK(m.tensors[2].size + m.tensors[3].size == 1799);
  /* contiguous, in order */
  size_t next = 0;
  for (int k = 0; k < m.n_tensors; k++) {
    CHECK(m.tensors[k].offset == next);
    next += m.tensors[k].size;
  }
  CHECK(next == m.n_params);
  egnn_model_free(&m);

  CHECK(egnn_model_init(&m, &g, &err) == ELIGN_OK);
  CHECK(m.n_tensors == 4 + 4 * 15);
  check_shape(&m, "dynamics.egnn.embedding.weight", 256, 17);
  CHECK(m.n_params == 4 * 592897 + (256 * 17 + 256) + (17 * 256 + 17));
  egnn_model_free(&m);

  egnn_config bad = q;
  bad.hidden = 0;
  CHECK(egnn_model_init(&m, &bad, &err) == ELIGN_ERR_CONFIG);
  return test_main_result("test_egnn_layout");
}
