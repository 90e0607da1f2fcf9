/*-------------------------------------------------------------------------
 *
 * tok_spm_shim.cpp
 *	  The C API of tok_spm.h over sentencepiece::SentencePieceProcessor.
 *
 * The project's only C++.  Every entry point is extern "C", wraps its body
 * in a try block and turns exceptions into a PgiStatus (std::bad_alloc is
 * PGI_ERR_NOMEM), so nothing thrown reaches C code or PostgreSQL's
 * longjmp-based error handling.  libsentencepiece reports failures as
 * util::Status values; a model it refuses gives PGI_ERR_CORRUPT with its
 * message as the detail.
 *
 * Model bytes pass tok_spm_proto_check (tok_spm_proto.c) before the
 * library sees them: it parses protobuf safely but trusts the normaliser's
 * trie.  Ids are range-checked here because the library's IdToPiece does
 * not check them.
 *
 * src/core/tokenizers/tok_spm_shim.cpp
 *
 *-------------------------------------------------------------------------
 */
extern "C"
{
#include "core/pgi_status.h"
#include "core/formats/gguf.h"
}
#include "core/tokenizers/tok_spm.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>

struct TokSpm
{
	sentencepiece::SentencePieceProcessor proc;
	TokSpmInfo	info;
};

/* Report the exception being handled (call only inside a catch block) */
static PgiStatus
report_exception(PgiError *err, const char *what)
{
	try
	{
		throw;
	}
	catch (const std::bad_alloc &)
	{
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory in SentencePiece %s", what);
	}
	catch (const std::exception &e)
	{
		return pgi_error(err, PGI_ERR_DATA, e.what(), "SentencePiece %s failed", what);
	}
	catch (...)
	{
		return pgi_error(err, PGI_ERR_DATA, NULL, "SentencePiece %s failed", what);
	}
}

/* Load checked model bytes into a new processor */
static PgiStatus
open_checked(const uint8_t *proto, size_t len, const TokSpmInfo *info,
			 TokSpm **out, PgiError *err)
{
	std::unique_ptr<TokSpm> sp(new TokSpm());
	sentencepiece::util::Status status;

	status = sp->proc.LoadFromSerializedProto(
		absl::string_view(reinterpret_cast<const char *>(proto), len));
	if (!status.ok())
		return pgi_error(err, PGI_ERR_CORRUPT, status.error_message(),
						 "invalid SentencePiece model");
	sp->info = *info;
	sp->info.n_pieces = sp->proc.GetPieceSize();
	sp->info.unk_id = sp->proc.unk_id();
	sp->info.bos_id = sp->proc.bos_id();
	sp->info.eos_id = sp->proc.eos_id();
	sp->info.pad_id = sp->proc.pad_id();
	*out = sp.release();
	return PGI_OK;
}

/* Load a processor from ModelProto bytes; see tok_spm.h */
extern "C" PgiStatus
tok_spm_open(const uint8_t *proto, size_t len, TokSpm **out, PgiError *err)
{
	TokSpmInfo	info;
	PgiStatus	st;

	*out = NULL;
	if ((st = tok_spm_proto_check(proto, len, &info, err)) != PGI_OK)
		return st;
	try
	{
		return open_checked(proto, len, &info, out, err);
	}
	catch (...)
	{
		return report_exception(err, "model loading");
	}
}

/* Load a processor from a GGUF "llama" vocabulary; see tok_spm.h */
extern "C" PgiStatus
tok_spm_open_gguf(const GgufFile *f, TokSpm **out, PgiError *err)
{
	uint8_t    *proto = NULL;
	size_t		len = 0;
	TokSpmInfo	gguf_info;
	PgiStatus	st;

	*out = NULL;
	if ((st = tok_spm_proto_from_gguf(f, &proto, &len, &gguf_info, err)) != PGI_OK)
		return st;
	st = tok_spm_open(proto, len, out, err);
	free(proto);
	if (st != PGI_OK)
		return st;
	/* llama.cpp takes the special ids from the GGUF keys, whatever the types */
	(*out)->info.unk_id = gguf_info.unk_id;
	(*out)->info.bos_id = gguf_info.bos_id;
	(*out)->info.eos_id = gguf_info.eos_id;
	(*out)->info.pad_id = gguf_info.pad_id;
	(*out)->info.add_bos = gguf_info.add_bos;
	(*out)->info.add_eos = gguf_info.add_eos;
	return PGI_OK;
}

/* Free a processor (NULL is fine) */
extern "C" void
tok_spm_free(TokSpm *sp)
{
	try
	{
		delete sp;
	}
	catch (...)
	{
		/* a destructor that throws: nothing to report to */
	}
}

/* What the model says about itself */
extern "C" const TokSpmInfo *
tok_spm_info(const TokSpm *sp)
{
	return &sp->info;
}

/* Number of pieces */
extern "C" int32_t
tok_spm_n_pieces(const TokSpm *sp)
{
	return sp->info.n_pieces;
}

/* Encode text into a malloc'd id array */
static PgiStatus
encode(const TokSpm *sp, const char *text, size_t len, int32_t **ids,
	   size_t *n_ids, PgiError *err)
{
	std::vector<int> v;
	sentencepiece::util::Status status;
	int32_t    *buf;

	status = sp->proc.Encode(absl::string_view(len ? text : "", len), &v);
	if (!status.ok())
		return pgi_error(err, PGI_ERR_DATA, status.error_message(),
						 "SentencePiece could not encode the text");
	buf = static_cast<int32_t *>(malloc((v.size() ? v.size() : 1) * sizeof(int32_t)));
	if (buf == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory encoding text");
	for (size_t i = 0; i < v.size(); i++)
		buf[i] = v[i];
	*ids = buf;
	*n_ids = v.size();
	return PGI_OK;
}

/* Encode UTF-8 text to ids; see tok_spm.h */
extern "C" PgiStatus
tok_spm_encode(const TokSpm *sp, const char *text, size_t len, int32_t **ids,
			   size_t *n_ids, PgiError *err)
{
	*ids = NULL;
	*n_ids = 0;
	if (text == NULL && len > 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "no text to encode");
	if (len > TOK_SPM_MAX_TEXT)
		return pgi_error(err, PGI_ERR_LIMIT, "Encode the text in parts.",
						 "text is too long to tokenize (%zu bytes, at most %d)",
						 len, TOK_SPM_MAX_TEXT);
	try
	{
		return encode(sp, text, len, ids, n_ids, err);
	}
	catch (...)
	{
		return report_exception(err, "encoding");
	}
}

/* Decode checked ids into malloc'd text */
static PgiStatus
decode(const TokSpm *sp, const int32_t *ids, size_t n, char **text, size_t *len,
	   PgiError *err)
{
	std::vector<int> v(ids, ids + n);
	std::string s;
	sentencepiece::util::Status status;
	char	   *buf;

	status = sp->proc.Decode(v, &s);
	if (!status.ok())
		return pgi_error(err, PGI_ERR_DATA, status.error_message(),
						 "SentencePiece could not decode the ids");
	buf = static_cast<char *>(malloc(s.size() + 1));
	if (buf == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory decoding ids");
	memcpy(buf, s.data(), s.size());
	buf[s.size()] = '\0';
	*text = buf;
	*len = s.size();
	return PGI_OK;
}

/* Decode ids to UTF-8 text; see tok_spm.h */
extern "C" PgiStatus
tok_spm_decode(const TokSpm *sp, const int32_t *ids, size_t n, char **text,
			   size_t *len, PgiError *err)
{
	*text = NULL;
	*len = 0;
	if (ids == NULL && n > 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "no ids to decode");
	if (n > TOK_SPM_MAX_IDS)
		return pgi_error(err, PGI_ERR_LIMIT, NULL,
						 "too many ids to decode (%zu, at most %d)", n, TOK_SPM_MAX_IDS);
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= sp->info.n_pieces)
			return pgi_error(err, PGI_ERR_PARAM, NULL,
							 "token id %d is out of range (vocabulary of %d)",
							 (int) ids[i], (int) sp->info.n_pieces);
	try
	{
		return decode(sp, ids, n, text, len, err);
	}
	catch (...)
	{
		return report_exception(err, "decoding");
	}
}

/* The piece of an id; see tok_spm.h */
extern "C" const char *
tok_spm_id_to_piece(const TokSpm *sp, int32_t id, size_t *len)
{
	*len = 0;
	if (id < 0 || id >= sp->info.n_pieces)
		return NULL;
	try
	{
		const std::string &piece = sp->proc.IdToPiece(id);

		*len = piece.size();
		return piece.data();
	}
	catch (...)
	{
		return NULL;
	}
}

/* The id of a piece, or -1; see tok_spm.h */
extern "C" int32_t
tok_spm_piece_to_id(const TokSpm *sp, const char *piece, size_t len)
{
	if (piece == NULL || len == 0)
		return -1;
	try
	{
		absl::string_view want(piece, len);
		int			id = sp->proc.PieceToId(want);

		/* the library answers the unknown id for absent pieces */
		if (id < 0 || id >= sp->info.n_pieces || sp->proc.IdToPiece(id) != want)
			return -1;
		return id;
	}
	catch (...)
	{
		return -1;
	}
}

extern "C" bool
tok_spm_is_special(const TokSpm *sp, int32_t id)
{
	if (id < 0 || id >= sp->info.n_pieces)
		return false;
	try
	{
		return sp->proc.IsControl(id) || sp->proc.IsUnknown(id);
	}
	catch (...)
	{
		return false;
	}
}
