// A minimal OMPT tool: attaches at start-up, registers nothing until tool_enable() is
// called (does libomp accept ompt_set_callback after initialisation?), then counts
// parallel regions and implicit tasks.
#include <omp-tools.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
static ompt_set_callback_t set_cb;
static atomic_long parallels, implicit_tasks, syncs;
static void on_parallel_begin(ompt_data_t *e, const ompt_frame_t *f, ompt_data_t *p, unsigned r, int fl, const void *ra) { parallels++; }
static void on_implicit_task(ompt_scope_endpoint_t ep, ompt_data_t *pd, ompt_data_t *td, unsigned n, unsigned i, int fl) { implicit_tasks++; }
static void on_sync(ompt_sync_region_t k, ompt_scope_endpoint_t ep, ompt_data_t *pd, ompt_data_t *td, const void *ra) { syncs++; }
int tool_enable(void) {
  int a = set_cb(ompt_callback_parallel_begin, (ompt_callback_t)on_parallel_begin);
  int b = set_cb(ompt_callback_implicit_task, (ompt_callback_t)on_implicit_task);
  int c = set_cb(ompt_callback_sync_region_wait, (ompt_callback_t)on_sync);
  return a * 100 + b * 10 + c;
}
void tool_counts(long *out) { out[0] = parallels; out[1] = implicit_tasks; out[2] = syncs; }
static int init(ompt_function_lookup_t lookup, int dev, ompt_data_t *d) {
  set_cb = (ompt_set_callback_t)lookup("ompt_set_callback");
  if (getenv("TOOL_ENABLE_AT_INIT")) tool_enable();
  return 1;
}
static void fini(ompt_data_t *d) {}
ompt_start_tool_result_t *ompt_start_tool(unsigned v, const char *rv) {
  static ompt_start_tool_result_t r = {init, fini, {0}};
  return &r;
}
