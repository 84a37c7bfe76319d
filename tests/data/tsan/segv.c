/* A thread that dereferences a pointer another thread cleared: a crash TSan reports. */
#include <pthread.h>
#include <stddef.h>

struct item { long value; };
static struct item the_item = {1};
static struct item *volatile shared = &the_item;

static void *reader(void *arg)
{
    return (void *)shared->value;
}

int main(void)
{
    pthread_t t;
    shared = NULL;
    pthread_create(&t, NULL, reader, NULL);
    pthread_join(t, NULL);
    return 0;
}
