/*-------------------------------------------------------------------------
 *
 * modelfiles.h
 *	  Model files on disk: confinement to pg_infer.model_dir, mappings,
 *	  SIGBUS guard, content sha256 (shared by registry.c and models.c).
 *
 * src/pg/models/modelfiles.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_MODELFILES_H
#define PGI_MODELFILES_H

extern char *pgi_model_dir;

/* A mapping's link to the memory context that unmaps it on ERROR */
typedef struct MapTracker
{
	const uint8 *data;			/* NULL once unmapped or kept */
	size_t		len;
	MemoryContextCallback cb;
} MapTracker;

/* A file mapped read-only */
typedef struct MappedFile
{
	const uint8 *data;
	size_t		len;
	dev_t		dev;			/* the file mapped (it may be replaced or */
	ino_t		ino;			/* deleted while mapped) */
	MapTracker *tracker;
} MappedFile;

/*
 * Map a file read-only.  The mapping is released with the current memory
 * context (so an ERROR leaks nothing) unless UnmapFile releases it first
 * or KeepMapping takes it over.
 */
extern MappedFile MapFile(const char *path);
extern void UnmapFile(MappedFile *mf);
extern void KeepMapping(MappedFile *mf);

/* Canonical path of a model source inside pg_infer.model_dir (ERROR if outside) */
extern char *ResolveSource(const char *source);

/*
 * A registered source as the current user may see it: the full path for
 * superusers and members of pg_read_server_files, else relative to
 * pg_infer.model_dir or the bundled models' directory (or the file name)
 */
extern char *ShownSource(const char *source);
/* Canonical path of a plain file name inside dir (NULL if missing and missing_ok) */
extern char *FileInDir(const char *dir, const char *name, bool missing_ok);
/* The safetensors files of a Hugging Face directory, mapped; returns the count */
extern int	MapHfWeights(const char *dir, MappedFile **files, char ***names);
/* sha256 (hex) binding a model name to a source's content */
extern char *SourceSha256(const char *path);
/* sha256 of a Hugging Face directory; *bytes total size, *has_tokenizer */
extern char *HashHfDir(const char *dir, int64 *bytes, int *has_tokenizer);
/* sha256 of a TF.js directory; *bytes total size */
extern char *HashTfjsDir(const char *dir, int64 *bytes);
/* sha256 of one mapped file's bytes, as sha256sum prints it */
extern char *HashWhole(const char *path, const MappedFile *mf);

/* Whether a directory holds a TF.js model (USE Lite) */
extern bool IsTfjsDir(const char *path);

/*
 * Run fn(arg), which reads mapped model files, turning SIGBUS (a file
 * truncated by someone else after it was mapped) into an ERROR about source
 */
typedef void (*MappedReadFn) (void *arg);
extern void WithMappedFiles(const char *source, MappedReadFn fn, void *arg);

extern void ModelFilesInit(void);

#endif							/* PGI_MODELFILES_H */
