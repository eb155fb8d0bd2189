/* The smallest trainer that embeds libhtga (the README's C example, which a
 * test compiles with -Wall -Wextra -Werror and runs against an htgad). */
#include <htga.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N 4096 /* parameters of the one group */

/* A stand-in for backprop: the gradient of 0.5 |w - 1|^2 plus Student-t(3) noise. */
static void compute_gradient(const float *w, float *grad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double z = 0, chi2 = 0;
        for (int k = 0; k < 4; k++) {
            double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = rand() / (RAND_MAX + 1.0);
            double g = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
            if (k == 0)
                z = g;
            else
                chi2 += g * g;
        }
        grad[i] = (float)(w[i] - 1.0 + z / sqrt(chi2 / 3));
    }
}

int main(void)
{
    static float w[N], grad[N];
    const double lr = 0.01;
    htga *h;

    if (htga_create(&h, "tcp://127.0.0.1:5555", "my-run") != HTGA_OK)
        fprintf(stderr, "htga: carrying on without it\n"); /* every call accepts h == NULL */
    htga_set_int(h, HTGA_OPT_RANK, 0); /* data-parallel worker; default: $RANK, else 0 */
    for (int64_t step = 0; step < 100; step++) {
        compute_gradient(w, grad, N);
        htga_send(h, "layer1.weight", step, grad, N);    /* never blocks; subsamples past 65536 */
        double lambda = htga_lambda(h, "layer1.weight"); /* 1.0 until htgad has pushed one */
        for (size_t i = 0; i < N; i++)
            w[i] -= (float)(lr * lambda) * grad[i];
    }
    htga_flush(h, 2000); /* optional: let the last samples leave */
    printf("w[0] = %.3f, lambda = %.3f\n", w[0], htga_lambda(h, "layer1.weight"));
    htga_destroy(&h); /* bounded: never hangs on unsent data */
    return 0;
}
