/* embed: see embed.h. */
#include "embed.h"

#include <string.h>

const embed_file_t *embed_find(const embed_file_t *files, const char *name)
{
    for (; files && files->name; files++)
        if (strcmp(files->name, name) == 0)
            return files;
    return NULL;
}
