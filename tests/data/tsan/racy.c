/* Real races for extmigrate's TSan parser tests. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long counter;                      /* shared static counter */
static char scratch[64];           /* shared scratch buffer */
struct box { long hits; long misses; };
void helper_bump(struct box *b);  /* in nodebug.c, built without -g */

static pthread_mutex_t ma = PTHREAD_MUTEX_INITIALIZER, mb = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t gate;

static void *bump(void *arg)
{
    struct box *b = arg;
    pthread_barrier_wait(&gate);
    counter++;
    memcpy(scratch, "thread", 7);
    b->hits++;
    helper_bump(b);
    return NULL;
}

static void *lock_ab(void *arg)
{
    pthread_mutex_lock(&ma); pthread_mutex_lock(&mb);
    pthread_mutex_unlock(&mb); pthread_mutex_unlock(&ma);
    return NULL;
}

static void *use_after_free(void *arg)
{
    long *p = arg;
    usleep(100000);
    return (void *)(*p + 1);
}

int main(void)
{
    pthread_t t[3];
    struct box *b = calloc(1, sizeof *b);
    long *freed = malloc(sizeof *freed);

    pthread_barrier_init(&gate, NULL, 2);
    pthread_create(&t[0], NULL, bump, b);
    pthread_create(&t[1], NULL, bump, b);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);

    lock_ab(NULL);
    pthread_mutex_lock(&mb); pthread_mutex_lock(&ma);       /* B then A: inversion */
    pthread_mutex_unlock(&ma); pthread_mutex_unlock(&mb);

    *freed = 1;
    pthread_create(&t[2], NULL, use_after_free, freed);
    free(freed);
    usleep(300000);
    pthread_create(&t[0], NULL, lock_ab, NULL);            /* never joined: thread leak */
    usleep(100000);
    pthread_join(t[2], NULL);
    free(b);
    return 0;
}
