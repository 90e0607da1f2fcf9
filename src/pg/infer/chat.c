/*-------------------------------------------------------------------------
 *
 * chat.c
 *	  Conversations as prompts: a jsonb array of {"role", "content"}
 *	  messages rendered with the model's chat template family
 *	  (src/core/tokenizers/chat.h) and encoded with its special tokens, for
 *	  generate(model, messages jsonb) and tokenize(model, messages jsonb).
 *
 * src/pg/infer/chat.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core/tokenizers/chat.h"
#include "pg/infer/chat.h"
#include "pg/models/models.h"
#include "pg/pgi_error.h"

/* A string member of a message object (NULL when absent or not a string) */
static const char *
MessageString(JsonbContainer *obj, const char *key, size_t *len)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(obj, key, strlen(key), &v) == NULL || v.type != jbvString)
		return NULL;
	*len = (size_t) v.val.string.len;
	return v.val.string.val;
}

/* The messages of a jsonb array (pointers into it) */
static ChatMessage *
ReadMessages(Jsonb *j, int *n)
{
	ChatMessage *msgs;

	if (!JB_ROOT_IS_ARRAY(j) || JB_ROOT_IS_SCALAR(j))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must be a jsonb array of {\"role\": ..., \"content\": ...} objects")));
	*n = (int) JB_ROOT_COUNT(j);
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a conversation needs at least one message")));
	msgs = palloc(sizeof(ChatMessage) * *n);
	for (int i = 0; i < *n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&j->root, i);

		if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data) ||
			(msgs[i].role = MessageString(v->val.binary.data, "role", &msgs[i].role_len)) == NULL ||
			(msgs[i].content = MessageString(v->val.binary.data, "content",
											 &msgs[i].content_len)) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d is not an object with string \"role\" and \"content\"", i + 1)));
	}
	return msgs;
}

int32 *
ChatPromptIds(LoadedModel *m, Jsonb *messages, int *n)
{
	const ChatFormat *f = &m->pm.meta.chat;
	int			nmsg;
	ChatMessage *msgs = ReadMessages(messages, &nmsg);
	char	   *text;
	size_t		len;
	PgiError	err = {0};
	int32	   *ids;

	if (f->family == CHAT_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" has no chat template", m->name),
				 errhint("Call generate(model, prompt text) with the prompt written out.")));
	if (f->family == CHAT_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the chat template of model \"%s\" is not one pg_infer can render", m->name),
				 errdetail("pg_infer renders the ChatML, Llama 3 and Zephyr families of templates."),
				 errhint("Call generate(model, prompt text) with the prompt written out.")));
	if (chat_render(f, msgs, nmsg, TokenizerPiece(m->tok, m->pm.meta.bos_id),
					TokenizerPiece(m->tok, m->pm.meta.eos_id), &text, &len, &err) != PGI_OK)
		PgiReport(&err);
	if (len > (size_t) (MaxAllocSize / 8))
	{
		free(text);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the conversation is too long")));
	}
	PG_TRY();
	{
		ids = TokenizerEncodeSpecial(m->tok, text, (int) len, n);
	}
	PG_FINALLY();
	{
		free(text);
	}
	PG_END_TRY();
	return ids;
}

PG_FUNCTION_INFO_V1(pgi_tokenize_chat);

/* tokenize(model, messages jsonb) -> int[]: the prompt a conversation becomes */
Datum
pgi_tokenize_chat(PG_FUNCTION_ARGS)
{
	LoadedModel *m = ModelGet(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	int			n;
	int32	   *ids = ChatPromptIds(m, PG_GETARG_JSONB_P(1), &n);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}
