struct box { long hits; long misses; };
static void inner(struct box *b) { b->misses++; }
void (*volatile inner_ptr)(struct box *) = inner;
void helper_bump(struct box *b) { inner_ptr(b); }
