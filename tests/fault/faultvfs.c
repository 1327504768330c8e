/* A fault-injecting SQLite VFS, loaded into the daemon with LD_PRELOAD by
 * the fault tests (tests/integration/test_fault_io.c); never part of the
 * daemon.
 *
 * It wraps the default VFS and becomes the default itself, so every
 * connection the daemon opens (it names no VFS) goes through it. It is
 * registered when the daemon calls sqlite3_initialize(), which this library
 * interposes: a constructor would initialize SQLite before the daemon's own
 * sqlite3_config() calls, which would then fail.
 *
 * What fails is a spec, read from the file named by $SQLITED_FAULT_FILE
 * (re-read whenever the file changes, so a test can let the daemon run
 * fine and then make it fail; rename a new file into place to change it)
 * or else from $SQLITED_FAULT:
 *
 *     OP:N[+]:ERR[:FILE]
 *
 * OP is read, write, sync or truncate; the N-th such operation (counted from
 * when the spec was read, from 1) fails, and with "+" every one after it
 * too; ERR is ioerr (SQLITE_IOERR_READ, _WRITE, _FSYNC or _TRUNCATE, as the
 * operation) or full (SQLITE_FULL); FILE limits it to the main database
 * (main), the WAL (wal) or anything else (other); all when left out. An
 * empty spec injects nothing. Each fault is reported on stderr.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum op { OP_READ, OP_WRITE, OP_SYNC, OP_TRUNCATE, OP_NONE };
enum kind { KIND_MAIN, KIND_WAL, KIND_OTHER, KIND_ANY };

static const char *const op_names[] = {"read", "write", "sync", "truncate"};
static const char *const kind_names[] = {"main", "wal", "other"};
static const int ioerr_codes[] = {SQLITE_IOERR_READ, SQLITE_IOERR_WRITE,
                                  SQLITE_IOERR_FSYNC, SQLITE_IOERR_TRUNCATE};

static struct {
    pthread_mutex_t mutex;
    enum op op; /* OP_NONE: inject nothing */
    long n;
    bool and_later;
    bool full;
    enum kind kind;
    long seen;        /* matching operations since the spec was read */
    struct stat file; /* of $SQLITED_FAULT_FILE when last read */
    bool loaded;
} spec = {.mutex = PTHREAD_MUTEX_INITIALIZER, .op = OP_NONE};

static sqlite3_vfs *real_vfs;

/* Parses @text into spec; anything malformed injects nothing. */
static void spec_parse(const char *text)
{
    char op[16] = "", err[16] = "", kind[16] = "", plus = 0;
    long n = 0;
    spec.op = OP_NONE;
    spec.seen = 0;
    if (sscanf(text, "%15[a-z]:%ld%c", op, &n, &plus) < 2 || n < 1)
        return;
    const char *rest = strchr(strchr(text, ':') + 1, ':');
    if (rest == NULL || sscanf(rest, ":%15[a-z]:%15[a-z]", err, kind) < 1)
        return;
    spec.and_later = plus == '+';
    spec.n = n;
    spec.full = strcmp(err, "full") == 0;
    if (!spec.full && strcmp(err, "ioerr") != 0)
        return;
    spec.kind = KIND_ANY;
    for (int k = 0; k < 3; k++)
        if (strcmp(kind, kind_names[k]) == 0)
            spec.kind = (enum kind)k;
    if (kind[0] != '\0' && spec.kind == KIND_ANY)
        return;
    for (int o = 0; o < 4; o++)
        if (strcmp(op, op_names[o]) == 0)
            spec.op = (enum op)o;
}

/* Re-reads the spec file when it changed. Under spec.mutex. */
static void spec_refresh(void)
{
    const char *path = getenv("SQLITED_FAULT_FILE");
    if (path == NULL) {
        if (!spec.loaded) {
            const char *text = getenv("SQLITED_FAULT");
            spec_parse(text ? text : "");
            spec.loaded = true;
        }
        return;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        memset(&st, 0, sizeof(st));
    if (spec.loaded && st.st_ino == spec.file.st_ino &&
        st.st_size == spec.file.st_size &&
        st.st_mtim.tv_sec == spec.file.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == spec.file.st_mtim.tv_nsec)
        return;
    spec.file = st;
    spec.loaded = true;
    char text[128] = "";
    FILE *f = fopen(path, "re");
    if (f) {
        if (fgets(text, sizeof(text), f) == NULL)
            text[0] = '\0';
        fclose(f);
    }
    spec_parse(text);
}

/* The error operation @op on a file of @kind must return, or SQLITE_OK. */
static int fault(enum op op, enum kind kind)
{
    int rc = SQLITE_OK;
    pthread_mutex_lock(&spec.mutex);
    spec_refresh();
    if (spec.op == op && (spec.kind == KIND_ANY || spec.kind == kind)) {
        spec.seen++;
        if (spec.seen == spec.n || (spec.and_later && spec.seen > spec.n))
            rc = spec.full ? SQLITE_FULL : ioerr_codes[op];
    }
    pthread_mutex_unlock(&spec.mutex);
    if (rc != SQLITE_OK)
        fprintf(stderr, "faultvfs: %s of a %s file fails with %d\n",
                op_names[op], kind_names[kind], rc);
    return rc;
}

/* --------------------------------------------------------------- files */

struct ffile {
    sqlite3_file base;
    sqlite3_file *real; /* the wrapped VFS's file, right after this */
    enum kind kind;
};

#define REAL(f) (((struct ffile *)(f))->real)
#define KIND(f) (((struct ffile *)(f))->kind)

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    int rc = fault(OP_READ, KIND(f));
    return rc ? rc : REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    int rc = fault(OP_WRITE, KIND(f));
    return rc ? rc : REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = fault(OP_TRUNCATE, KIND(f));
    return rc ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    int rc = fault(OP_SYNC, KIND(f));
    return rc ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int lock)
{
    return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int f_unlock(sqlite3_file *f, int lock)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_device_characteristics(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int region, int size, int extend,
                     void volatile **out)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, out);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

/* Version 2: the WAL's shared memory, but no memory-mapped reads, so that
 * every read goes through f_read. */
static const sqlite3_io_methods methods = {
    .iVersion = 2,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_file_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_check_reserved,
    .xFileControl = f_file_control,
    .xSectorSize = f_sector_size,
    .xDeviceCharacteristics = f_device_characteristics,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
};

/* ----------------------------------------------------------------- the VFS */

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
                  int flags, int *out_flags)
{
    (void)vfs;
    struct ffile *f = (struct ffile *)file;
    f->real = (sqlite3_file *)(f + 1);
    f->kind = flags & SQLITE_OPEN_MAIN_DB ? KIND_MAIN
              : flags & SQLITE_OPEN_WAL   ? KIND_WAL
                                          : KIND_OTHER;
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* SQLite closes a file whose methods are set, even after a failed
     * open: close the real one then. */
    f->base.pMethods = f->real->pMethods ? &methods : NULL;
    return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, lib, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *lib)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, lib);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static sqlite3_vfs fault_vfs = {
    .iVersion = 2,
    .zName = "faultvfs",
    .xOpen = v_open,
    .xDelete = v_delete,
    .xAccess = v_access,
    .xFullPathname = v_full_pathname,
    .xDlOpen = v_dlopen,
    .xDlError = v_dlerror,
    .xDlSym = v_dlsym,
    .xDlClose = v_dlclose,
    .xRandomness = v_randomness,
    .xSleep = v_sleep,
    .xCurrentTime = v_current_time,
    .xGetLastError = v_last_error,
    .xCurrentTimeInt64 = v_current_time_int64,
};

static atomic_bool registered;

/* SQLite calls sqlite3_initialize() itself, on its way (registering its own
 * VFS) and from the calls made here: those nested calls go straight
 * through. */
static _Thread_local int depth;

__attribute__((visibility("default"))) int sqlite3_initialize(void)
{
    static int (*real_initialize)(void);
    if (real_initialize == NULL)
        real_initialize = (int (*)(void))dlsym(RTLD_NEXT, "sqlite3_initialize");
    if (real_initialize == NULL)
        return SQLITE_ERROR;
    if (depth > 0)
        return real_initialize();
    depth++;
    int rc = real_initialize();
    if (rc == SQLITE_OK && !atomic_exchange(&registered, true)) {
        real_vfs = sqlite3_vfs_find(NULL);
        if (real_vfs == NULL || real_vfs->iVersion < 2) {
            fprintf(stderr, "faultvfs: no default VFS to wrap\n");
            rc = SQLITE_ERROR;
        } else {
            fault_vfs.szOsFile = (int)sizeof(struct ffile) + real_vfs->szOsFile;
            fault_vfs.mxPathname = real_vfs->mxPathname;
            rc = sqlite3_vfs_register(&fault_vfs, 1);
            fprintf(stderr, "faultvfs: wrapping VFS %s: %d\n", real_vfs->zName,
                    rc);
        }
    }
    depth--;
    return rc;
}
