/* Tests of metrics.c: the Prometheus text format details. */
#include <criterion/criterion.h>
#include <math.h>

#include "metrics.h"

Test(metrics, family_and_samples)
{
    hbuf b = {0};
    prom_family(&b, "htga_x_total", "counter", "Things\\done\nhere.");
    const char *k[2] = {"run", "group"}, *v[2] = {"r\"1", "a\\b\nc"};
    prom_sample(&b, "htga_x_total", 2, k, v, 3);
    prom_sample(&b, "htga_x_total", 0, NULL, NULL, 0.5);
    cr_assert_str_eq(b.data, "# HELP htga_x_total Things\\\\done\\nhere.\n"
                             "# TYPE htga_x_total counter\n"
                             "htga_x_total{run=\"r\\\"1\",group=\"a\\\\b\\nc\"} 3\n"
                             "htga_x_total 0.5\n");
    hbuf_free(&b);
}

Test(metrics, special_values)
{
    hbuf b = {0};
    prom_value(&b, NAN);
    hbuf_puts(&b, " ");
    prom_value(&b, INFINITY);
    hbuf_puts(&b, " ");
    prom_value(&b, -INFINITY);
    hbuf_puts(&b, " ");
    prom_value(&b, 1e300);
    cr_assert_str_eq(b.data, "NaN +Inf -Inf 1.0000000000000001e+300");
    hbuf_free(&b);
}
