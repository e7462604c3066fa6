/* Function names: the one rule for what a user may call a function. */
#ifndef TF_NAMES_H
#define TF_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 63

/* True when name matches [A-Za-z0-9][A-Za-z0-9_-]{0,62}. */
bool name_is_valid(const char *name, size_t len);

#endif
