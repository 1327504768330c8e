#include "route.h"

enum route route_decide(const struct job *job, enum route_event event)
{
    if (event == ROUTE_WRITES)
        return ROUTE_WRITER;
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
