/*-------------------------------------------------------------------------
 *
 * chat.h
 *	  Conversations as prompts (chat.c).
 *
 * src/pg/infer/chat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_INFER_CHAT_H
#define PGI_INFER_CHAT_H

#include "utils/jsonb.h"

#include "pg/models/models.h"

/*
 * The prompt ids of a jsonb array of {"role", "content"} messages under m's
 * chat template (palloc'd; BOS only where the template writes it); ERROR
 * for a model without a template pg_infer renders, or malformed messages
 */
extern int32 *ChatPromptIds(LoadedModel *m, Jsonb *messages, int *n);

#endif							/* PGI_INFER_CHAT_H */
