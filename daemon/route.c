#include "route.h"

enum route route_decide(const struct job *job, enum route_event event)
{
    if (event == ROUTE_WRITES)
        return ROUTE_WRITER;
    /* A read-only transaction's requests run on its connection, which a
     * reader steps (snapshot.h). */
    if (job->snapshot != NULL ||
        (job->method == RPC_BEGIN && job->read_only_tx))
        return ROUTE_READERS;
    switch (job->method) {
    case RPC_HEALTH:
        return ROUTE_HEALTH;
    case RPC_BACKUP:
        return ROUTE_BACKUP;
    case RPC_FETCH:
    case RPC_CLOSE:
    case RPC_EXPLAIN:
    case RPC_INTEGRITY:
        return ROUTE_READERS;
    case RPC_QUERY:
        if (job->tx != 0 || job->checkpoint)
            return ROUTE_WRITER;
        return event == ROUTE_NEW ? ROUTE_LOOP : ROUTE_READERS;
    default:
        return ROUTE_WRITER;
    }
}
