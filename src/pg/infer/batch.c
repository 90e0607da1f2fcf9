/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Cross-row batching of embed() and generate(): SELECT embed(m, body)
 *	  FROM t runs one forward pass per batch of rows instead of one per row,
 *	  SELECT generate(m, 'Summarise: ' || body, max_tokens => 32) FROM t
 *	  decodes a batch of rows together (one weight pass per step for all).
 *
 * After standard planning, a scan node N whose target list calls
 * embed(<constant model>, X [, <constant options>]) or embed(X) is
 * rewritten into
 *
 *     Custom Scan (EmbedBatch)  tlist: N's tlist, each embed call replaced
 *       |                              by a column of the batch
 *       -> N                    tlist: X1..Xm (the texts), then the plain
 *                                      Vars the rest of the tlist needs
 *
 * EmbedBatch reads a batch of rows from N (1, 2, 4, ... doubling up to
 * pg_infer.batch_rows, so a LIMIT reads at most as many extra rows as it
 * returns), embeds each call's texts in one pass (EmbedRows) and returns
 * the rows in their order with the vectors in place.  N keeps its quals:
 * only rows that pass them are embedded.  embed() is IMMUTABLE (STABLE
 * for the default-model form), so computing it a few rows early changes no
 * result; a row whose text would raise an ERROR is evaluated alone when its
 * turn comes, so the error is raised at the same row as without batching.
 *
 * generate(<constant model>, X, <constant arguments>...) is batched the
 * same way (GenerateBatch): its rows are decoded together by GenerateRows,
 * each row's text exactly what generating it alone gives; it is VOLATILE
 * only because it may sample, and sampling draws from each row's own
 * random state, so reading rows ahead changes no row's result.
 *
 * classify(<constant model>, X) with a trained head or a model's head, and
 * embed_image(<constant model>, X) are batched the same way as embed()
 * (ClassifyRows, EmbedImageRows: one forward pass for the batch's rows).
 *
 * Aggregates over a scan (count(embed(m, body)), avg(...) GROUP BY ...)
 * evaluate their arguments in the Agg node: their embed calls are first
 * moved into the scan's target list, then batched the same way.
 *
 * Left as they are: cursors (backward fetch and WHERE CURRENT OF need the
 * scan's own position), inputs of merge joins (mark/restore), and target
 * lists with sub-plans, aggregates, set-returning functions or executor
 * params outside the texts.
 *
 * src/pg/infer/batch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "pg/infer/batch.h"
#include "pg/infer/embed.h"
#include "pg/infer/classify.h"
#include "pg/infer/generate.h"
#include "pg/infer/image.h"
#include "pg/models/models.h"

#define BATCH_NAME "EmbedBatch"
#define GENERATE_NAME "GenerateBatch"

int			pgi_batch_rows = 32;

static planner_hook_type prevPlanner = NULL;

/* Which of our functions a FuncExpr calls */
typedef enum EmbedKind
{
	EMBED_NONE,
	EMBED_MODEL,				/* embed(model, input, options) */
	EMBED_DEFAULT,				/* embed(input) */
	EMBED_GENERATE,				/* generate(model, prompt, max_tokens, ...) */
	EMBED_CLASSIFY,				/* classify(model, input) with a trained head */
	EMBED_IMAGE					/* embed_image(model, image) */
} EmbedKind;

/* What one scan's target list needs (planning) */
typedef struct Collect
{
	List	   *calls;			/* distinct batchable FuncExprs */
	List	   *vars;			/* distinct Vars outside them */
	bool		ok;
	int			conditional;	/* depth inside CASE, COALESCE, AND, OR */
} Collect;

/* Executor state of one EmbedBatch node */
typedef struct BatchState
{
	CustomScanState css;
	PlanState  *child;
	int			ncalls;			/* calls: child columns 0..ncalls-1 */
	int			ncols;			/* child columns */
	char	  **models;			/* [ncalls], NULL: pg_infer.default_model */
	Jsonb	  **options;		/* [ncalls], NULL: none */
	bool	   *gen;			/* [ncalls] generate() rather than embed() */
	bool	   *gchat;			/* [ncalls] generate(model, messages jsonb) */
	bool	   *classify;		/* [ncalls] classify() rather than embed() */
	bool	   *image;			/* [ncalls] embed_image() rather than embed() */
	Datum	  (*gargs)[GENERATE_NARGS];	/* [ncalls] generate()'s arguments */
	bool	  (*gnull)[GENERATE_NARGS];
	int16	   *typlen;			/* [ncols] */
	bool	   *typbyval;		/* [ncols] */
	MemoryContext cxt;			/* one batch's rows and vectors */
	int			max_rows;
	int			next_rows;		/* size of the next batch (doubling) */
	int			count;			/* rows in the batch */
	int			pos;			/* next row to return */
	bool		done;			/* child exhausted */
	Datum	   *values;			/* [max_rows][ncols] */
	bool	   *nulls;			/* [max_rows][ncols] */
	void	  **vecs;			/* [max_rows][ncalls]: Vector or text */
	text	  **texts;			/* [max_rows] */
	Vector	  **col;			/* [max_rows] */
	text	  **gcol;			/* [max_rows] */
	int64		batches;
	int64		rows;
} BatchState;

static Node *CreateBatchState(CustomScan *cscan);
static void BeginBatch(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *ExecBatch(CustomScanState *node);
static void EndBatch(CustomScanState *node);
static void ReScanBatch(CustomScanState *node);
static void ExplainBatch(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomScanMethods batchPlanMethods = {
	.CustomName = BATCH_NAME,
	.CreateCustomScanState = CreateBatchState,
};

/* The same node when it decodes generate() calls: named for EXPLAIN */
static const CustomScanMethods generatePlanMethods = {
	.CustomName = GENERATE_NAME,
	.CreateCustomScanState = CreateBatchState,
};

static const CustomExecMethods batchExecMethods = {
	.CustomName = BATCH_NAME,
	.BeginCustomScan = BeginBatch,
	.ExecCustomScan = ExecBatch,
	.EndCustomScan = EndBatch,
	.ReScanCustomScan = ReScanBatch,
	.ExplainCustomScan = ExplainBatch,
};

/* ---------------------------------------------------------------------
 * Planning
 * ---------------------------------------------------------------------
 */

/* Kinds of the functions seen by this backend's planner (reset on pg_proc changes) */
#define KIND_CACHE 64
static Oid	kindOid[KIND_CACHE];
static EmbedKind kindOf[KIND_CACHE];
static int	kindCount = 0;

static void
ResetKinds(Datum arg, int cacheid, uint32 hashvalue)
{
	kindCount = 0;
}

static EmbedKind LookupFunctionKind(Oid funcid);

/* Whether funcid is one of pg_infer's embed(text) functions, and which */
static EmbedKind
EmbedFunctionKind(Oid funcid)
{
	EmbedKind	kind;

	for (int i = 0; i < kindCount; i++)
		if (kindOid[i] == funcid)
			return kindOf[i];
	kind = LookupFunctionKind(funcid);
	if (kindCount == KIND_CACHE)
		kindCount = 0;
	kindOid[kindCount] = funcid;
	kindOf[kindCount++] = kind;
	return kind;
}

/* EmbedFunctionKind from pg_proc: a C function of this library, by symbol */
static EmbedKind
LookupFunctionKind(Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	EmbedKind	kind = EMBED_NONE;
	bool		isnull;
	Datum		d;

	if (!HeapTupleIsValid(tup))
		return EMBED_NONE;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prolang == ClanguageId && !proc->proretset)
	{
		d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
		if (!isnull)
		{
			char	   *bin = TextDatumGetCString(d);
			size_t		len = strlen(bin);
			char	   *src;

			if ((len >= 8 && strcmp(bin + len - 8, "pg_infer") == 0) ||
				(len >= 11 && strcmp(bin + len - 11, "pg_infer.so") == 0))
			{
				src = TextDatumGetCString(SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc,
														  &isnull));
				if (strcmp(src, "pgi_embed") == 0)
					kind = EMBED_MODEL;
				else if (strcmp(src, "pgi_embed_default") == 0)
					kind = EMBED_DEFAULT;
				else if (strcmp(src, "pgi_generate") == 0 ||
						 strcmp(src, "pgi_generate_chat") == 0)
					kind = EMBED_GENERATE;
				else if (strcmp(src, "pgi_classify") == 0)
					kind = EMBED_CLASSIFY;
				else if (strcmp(src, "pgi_embed_image") == 0)
					kind = EMBED_IMAGE;
			}
		}
	}
	ReleaseSysCache(tup);
	return kind;
}

/* A non-NULL constant */
static bool
IsConstant(Node *n)
{
	return n != NULL && IsA(n, Const) && !((Const *) n)->constisnull;
}

/* Whether a FuncExpr is an embed call EmbedBatch can take over */
static EmbedKind
BatchableCall(Node *node)
{
	FuncExpr   *f;
	EmbedKind	kind;

	if (!IsA(node, FuncExpr))
		return EMBED_NONE;
	f = (FuncExpr *) node;
	kind = EmbedFunctionKind(f->funcid);
	if (kind == EMBED_MODEL &&
		(list_length(f->args) != 3 || !IsConstant(linitial(f->args)) ||
		 !IsConstant(lthird(f->args))))
		return EMBED_NONE;
	if (kind == EMBED_DEFAULT && list_length(f->args) != 1)
		return EMBED_NONE;
	if ((kind == EMBED_CLASSIFY || kind == EMBED_IMAGE) &&
		(list_length(f->args) != 2 || !IsConstant(linitial(f->args))))
		return EMBED_NONE;
	if (kind == EMBED_GENERATE)
	{
		/* a constant model, constant (maybe NULL) arguments but the prompt */
		if (list_length(f->args) != GENERATE_NARGS || !IsConstant(linitial(f->args)))
			return EMBED_NONE;
		for (int i = 2; i < GENERATE_NARGS; i++)
			if (!IsA(list_nth(f->args, i), Const))
				return EMBED_NONE;
	}
	return kind;
}

/* The text argument of a batchable call */
static Node *
CallText(FuncExpr *f)
{
	return list_length(f->args) == 1 ? linitial(f->args) : lsecond(f->args);
}

/* Nodes a scan's target list cannot evaluate on its own, row by row */
static bool
OutsideTheScan(Node *node)
{
	return IsA(node, SubPlan) || IsA(node, AlternativeSubPlan) || IsA(node, PlaceHolderVar) ||
		IsA(node, Aggref) || IsA(node, WindowFunc) || IsA(node, GroupingFunc);
}

/*
 * Expressions whose parts are evaluated for some rows only (CASE, COALESCE,
 * AND, OR, NULLIF's result...): an embed call inside stays row by row, so
 * it runs for exactly the rows it ran for before (an over-long text behind
 * CASE WHEN length(body) < 1000, COALESCE(v, embed(...)) for missing rows)
 */
static bool
IsConditional(Node *node)
{
	return IsA(node, CaseExpr) || IsA(node, CoalesceExpr) ||
		(IsA(node, BoolExpr) && ((BoolExpr *) node)->boolop != NOT_EXPR);
}

/* Collect the embed calls and the other Vars of a target list */
static bool
CollectWalker(Node *node, Collect *c)
{
	if (node == NULL)
		return false;
	/*
	 * A call of constants and parameters is the same for every row: not
	 * batched (the index's ORDER BY key evaluates it once per scan)
	 */
	if (c->conditional == 0 && BatchableCall(node) != EMBED_NONE &&
		contain_var_clause(CallText((FuncExpr *) node)))
	{
		if (!list_member(c->calls, node))
			c->calls = lappend(c->calls, node);
		return false;
	}
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (IS_SPECIAL_VARNO(v->varno) || v->varlevelsup != 0)
		{
			c->ok = false;
			return true;
		}
		if (!list_member(c->vars, node))
			c->vars = lappend(c->vars, node);
		return false;
	}
	if (OutsideTheScan(node) ||
		(IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC))
	{
		c->ok = false;
		return true;
	}
	if (IsConditional(node))
	{
		/* evaluated for some rows only: its calls stay row by row */
		bool		r;

		c->conditional++;
		r = expression_tree_walker(node, CollectWalker, c);
		c->conditional--;
		return r;
	}
	return expression_tree_walker(node, CollectWalker, c);
}

/* Position of node in list (equal()), or -1 */
static int
ListPosition(List *list, Node *node)
{
	ListCell   *lc;

	foreach(lc, list)
		if (equal(lfirst(lc), node))
			return foreach_current_index(lc);
	return -1;
}

/* The target list of EmbedBatch: calls and Vars become INDEX_VAR columns */
static Node *
ReplaceMutator(Node *node, Collect *c)
{
	int			pos;

	if (node == NULL)
		return NULL;
	if (BatchableCall(node) != EMBED_NONE && (pos = ListPosition(c->calls, node)) >= 0)
		return (Node *) makeVar(INDEX_VAR, pos + 1, exprType(node), -1, exprCollation(node), 0);
	if (IsA(node, Var) && (pos = ListPosition(c->vars, node)) >= 0)
	{
		Var		   *v = (Var *) node;

		return (Node *) makeVar(INDEX_VAR, list_length(c->calls) + pos + 1, v->vartype,
								v->vartypmod, v->varcollid, 0);
	}
	return expression_tree_mutator(node, ReplaceMutator, c);
}

/* Scan nodes whose target lists refer to their own relation only */
static bool
IsBatchableScan(Plan *plan)
{
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_SubqueryScan:
		case T_FunctionScan:
		case T_ValuesScan:
		case T_CteScan:
		case T_NamedTuplestoreScan:
			return true;
		default:
			return false;
	}
}

/* A target entry like tle with another expression */
static TargetEntry *
WithExpr(TargetEntry *tle, Expr *expr, AttrNumber resno)
{
	TargetEntry *n = flatCopyTargetEntry(tle);

	n->expr = expr;
	n->resno = resno;
	return n;
}

/* EmbedBatch over scan, or scan itself when its target list has no call */
static Plan *
WrapScan(Plan *scan, int *last_id)
{
	Collect		c = {NIL, NIL, true, 0};
	List	   *child_tlist = NIL;
	List	   *scan_tlist = NIL;
	List	   *tlist = NIL;
	List	   *models = NIL;
	List	   *options = NIL;
	List	   *gargs = NIL;		/* per call: generate()'s arguments, or NIL */
	List	   *kinds = NIL;		/* per call: its EmbedKind */
	bool		any_gen = false;
	CustomScan *cs;
	ListCell   *lc;
	int			resno = 1;

	CollectWalker((Node *) scan->targetlist, &c);
	if (!c.ok || c.calls == NIL || expression_returns_set((Node *) scan->targetlist))
		return scan;
	/*
	 * Reading ahead evaluates the scan's quals and the texts for rows a LIMIT
	 * may never ask for: only when that has no side effects
	 */
	if (contain_volatile_functions((Node *) scan->qual))
		return scan;
	foreach(lc, c.calls)
		if (contain_volatile_functions(CallText(lfirst(lc))))
			return scan;

	foreach(lc, c.calls)
	{
		FuncExpr   *f = lfirst(lc);
		bool		dflt = list_length(f->args) == 1;

		child_tlist = lappend(child_tlist,
							  makeTargetEntry(copyObject((Expr *) CallText(f)), resno, NULL, false));
		scan_tlist = lappend(scan_tlist, makeTargetEntry(copyObject((Expr *) f), resno, NULL, false));
		models = lappend(models, dflt ? makeNullConst(TEXTOID, -1, InvalidOid)
						 : copyObject(linitial(f->args)));
		kinds = lappend_int(kinds, BatchableCall((Node *) f));
		if (BatchableCall((Node *) f) == EMBED_GENERATE)
		{
			List	   *args = copyObject(f->args);

			/* the prompt (text, or jsonb messages) is the child's column */
			lsecond(args) = makeNullConst(exprType(lsecond(f->args)), -1, InvalidOid);
			options = lappend(options, makeNullConst(JSONBOID, -1, InvalidOid));
			gargs = lappend(gargs, args);
			any_gen = true;
		}
		else if (BatchableCall((Node *) f) == EMBED_CLASSIFY || BatchableCall((Node *) f) == EMBED_IMAGE)
		{
			options = lappend(options, makeNullConst(JSONBOID, -1, InvalidOid));
			gargs = lappend(gargs, NIL);
		}
		else
		{
			options = lappend(options, dflt ? makeNullConst(JSONBOID, -1, InvalidOid)
							  : copyObject(lthird(f->args)));
			gargs = lappend(gargs, NIL);
		}
		resno++;
	}
	foreach(lc, c.vars)
	{
		child_tlist = lappend(child_tlist, makeTargetEntry(copyObject(lfirst(lc)), resno, NULL, false));
		scan_tlist = lappend(scan_tlist, makeTargetEntry(copyObject(lfirst(lc)), resno, NULL, false));
		resno++;
	}
	foreach(lc, scan->targetlist)
	{
		TargetEntry *tle = lfirst(lc);

		tlist = lappend(tlist, WithExpr(tle, (Expr *) ReplaceMutator((Node *) tle->expr, &c),
										tle->resno));
	}

	cs = makeNode(CustomScan);
	cs->scan.plan.startup_cost = scan->startup_cost;
	cs->scan.plan.total_cost = scan->total_cost;
	cs->scan.plan.plan_rows = scan->plan_rows;
	cs->scan.plan.plan_width = scan->plan_width;
	cs->scan.plan.parallel_aware = false;
	cs->scan.plan.parallel_safe = scan->parallel_safe;
	cs->scan.plan.plan_node_id = ++(*last_id);
	cs->scan.plan.targetlist = tlist;
	cs->scan.plan.extParam = bms_copy(scan->extParam);
	cs->scan.plan.allParam = bms_copy(scan->allParam);
	cs->scan.scanrelid = 0;
	cs->custom_plans = list_make1(scan);
	cs->custom_private = list_make4(models, options, gargs, kinds);
	cs->custom_scan_tlist = scan_tlist;
	cs->custom_relids = bms_make_singleton(((Scan *) scan)->scanrelid);
	cs->methods = any_gen ? &generatePlanMethods : &batchPlanMethods;
	scan->targetlist = child_tlist;
	return (Plan *) cs;
}

/* Where the child plans of plan are held (to read or replace them) */
static List *
ChildSlots(Plan *plan)
{
	List	   *slots = list_make2(&plan->lefttree, &plan->righttree);
	List	   *kids = NIL;
	ListCell   *lc;

	if (IsA(plan, Append))
		kids = ((Append *) plan)->appendplans;
	else if (IsA(plan, MergeAppend))
		kids = ((MergeAppend *) plan)->mergeplans;
	else if (IsA(plan, BitmapAnd))
		kids = ((BitmapAnd *) plan)->bitmapplans;
	else if (IsA(plan, BitmapOr))
		kids = ((BitmapOr *) plan)->bitmapplans;
	else if (IsA(plan, CustomScan))
		kids = ((CustomScan *) plan)->custom_plans;
	else if (IsA(plan, SubqueryScan))
		slots = lappend(slots, &((SubqueryScan *) plan)->subplan);
	foreach(lc, kids)
		slots = lappend(slots, &lfirst(lc));
	return slots;
}

/* Highest plan_node_id in a tree */
static void
MaxPlanId(Plan *plan, int *max)
{
	ListCell   *lc;

	if (plan == NULL)
		return;
	*max = Max(*max, plan->plan_node_id);
	foreach(lc, ChildSlots(plan))
		MaxPlanId(*(Plan **) lfirst(lc), max);
}

/* Whether an expression reads more than the Agg's input columns (OUTER_VAR) */
static bool
ReadsMoreThanInput(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varno != OUTER_VAR || ((Var *) node)->varlevelsup != 0;
	if (OutsideTheScan(node))
		return true;
	return expression_tree_walker(node, ReadsMoreThanInput, context);
}

/* An expression over the input's columns (OUTER_VAR) as the input computes it */
static Node *
InputMutator(Node *node, Plan *input)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var) && ((Var *) node)->varno == OUTER_VAR)
	{
		TargetEntry *tle = get_tle_by_resno(input->targetlist, ((Var *) node)->varattno);

		if (tle == NULL)
			elog(ERROR, "pg_infer: no input column %d", ((Var *) node)->varattno);
		return (Node *) copyObject(tle->expr);
	}
	return expression_tree_mutator(node, InputMutator, input);
}

/* Whether an expression over the input's columns reads a volatile one */
static bool
ReadsVolatileInput(Node *node, Plan *input)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varno == OUTER_VAR)
	{
		TargetEntry *tle = get_tle_by_resno(input->targetlist, ((Var *) node)->varattno);

		return tle == NULL || contain_volatile_functions((Node *) tle->expr);
	}
	return expression_tree_walker(node, ReadsVolatileInput, input);
}

/* Inside an aggregate's arguments: embed calls move into the input scan */
static Node *
PushMutator(Node *node, Plan *input)
{
	if (node == NULL)
		return NULL;
	if (IsConditional(node))
		return node;			/* evaluated for some rows only: left alone */
	if (BatchableCall(node) != EMBED_NONE &&
		!ReadsMoreThanInput(CallText((FuncExpr *) node), NULL) &&
		!ReadsVolatileInput(CallText((FuncExpr *) node), input))
	{
		FuncExpr   *f = (FuncExpr *) copyObject(node);
		Node	   *x = InputMutator(CallText(f), input);
		ListCell   *lc;
		int			resno;

		if (list_length(f->args) == 1)
			linitial(f->args) = x;
		else
			lsecond(f->args) = x;
		resno = list_length(input->targetlist) + 1;
		foreach(lc, input->targetlist)
			if (equal(((TargetEntry *) lfirst(lc))->expr, f))
				resno = ((TargetEntry *) lfirst(lc))->resno;
		if (resno > list_length(input->targetlist))
			input->targetlist = lappend(input->targetlist,
										makeTargetEntry((Expr *) f, resno, NULL, false));
		return (Node *) makeVar(OUTER_VAR, resno, f->funcresulttype, -1, exprCollation((Node *) f), 0);
	}
	return expression_tree_mutator(node, PushMutator, input);
}

/* Find the aggregates of an Agg's expressions and push their embed calls */
static Node *
AggrefMutator(Node *node, Plan *input)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Aggref))
	{
		Aggref	   *a = (Aggref *) copyObject(node);

		/* with FILTER, the arguments are evaluated for some rows only */
		if (a->aggfilter == NULL)
			a->args = (List *) PushMutator((Node *) a->args, input);
		return (Node *) a;
	}
	return expression_tree_mutator(node, AggrefMutator, input);
}

/*
 * count(embed(m, body)), avg(embed(...)) ... GROUP BY: an Agg evaluates its
 * aggregates' arguments itself, row by row.  When its input is a scan, the
 * embed calls of those arguments move into the scan's target list (as new
 * columns the arguments read), where EmbedBatch takes them over.
 */
static void
PushAggregateCalls(Agg *agg)
{
	Plan	   *input = agg->plan.lefttree;

	Collect		c = {NIL, NIL, true, 0};

	if (input == NULL || !IsBatchableScan(input) ||
		expression_returns_set((Node *) input->targetlist) ||
		contain_volatile_functions((Node *) input->qual))
		return;
	/* only into a scan EmbedBatch will take (else the calls stay here) */
	CollectWalker((Node *) input->targetlist, &c);
	if (!c.ok)
		return;
	agg->plan.targetlist = (List *) AggrefMutator((Node *) agg->plan.targetlist, input);
	agg->plan.qual = (List *) AggrefMutator((Node *) agg->plan.qual, input);
}

/* Rewrite the scans of a tree (not the inputs of a merge join: mark/restore) */
static Plan *
RewritePlan(Plan *plan, int *last_id, bool keep)
{
	ListCell   *lc;

	if (plan == NULL)
		return NULL;
	if (IsA(plan, Agg) && !keep)
		PushAggregateCalls((Agg *) plan);
	foreach(lc, ChildSlots(plan))
	{
		Plan	  **child = lfirst(lc);

		*child = RewritePlan(*child, last_id, IsA(plan, MergeJoin));
	}
	if (!keep && IsBatchableScan(plan))
		return WrapScan(plan, last_id);
	return plan;
}

/* Cursors keep their plans: they may fetch backward or UPDATE WHERE CURRENT OF */
#define CURSOR_OPTS (CURSOR_OPT_BINARY | CURSOR_OPT_SCROLL | CURSOR_OPT_NO_SCROLL | CURSOR_OPT_FAST_PLAN | \
					 CURSOR_OPT_INSENSITIVE | CURSOR_OPT_ASENSITIVE | CURSOR_OPT_HOLD)

static PlannedStmt *
BatchPlanner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	PlannedStmt *stmt;
	int			last_id = 0;
	ListCell   *lc;

	if (prevPlanner)
		stmt = prevPlanner(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);

	if (pgi_batch_rows <= 1 || (cursorOptions & CURSOR_OPTS) != 0)
		return stmt;

	MaxPlanId(stmt->planTree, &last_id);
	foreach(lc, stmt->subplans)
		MaxPlanId(lfirst(lc), &last_id);

	stmt->planTree = RewritePlan(stmt->planTree, &last_id, false);
	foreach(lc, stmt->subplans)
		lfirst(lc) = RewritePlan(lfirst(lc), &last_id, false);
	return stmt;
}

/* ---------------------------------------------------------------------
 * Execution
 * ---------------------------------------------------------------------
 */

static Node *
CreateBatchState(CustomScan *cscan)
{
	BatchState *bs = palloc0(sizeof(BatchState));

	NodeSetTag(bs, T_CustomScanState);
	bs->css.methods = &batchExecMethods;
	return (Node *) bs;
}

static void
BeginBatch(CustomScanState *node, EState *estate, int eflags)
{
	BatchState *bs = (BatchState *) node;
	CustomScan *cs = (CustomScan *) node->ss.ps.plan;
	List	   *models = linitial(cs->custom_private);
	List	   *options = lsecond(cs->custom_private);
	List	   *gargs = lthird(cs->custom_private);
	List	   *kinds = lfourth(cs->custom_private);
	TupleDesc	desc;
	ListCell   *lc;

	bs->child = ExecInitNode(linitial(cs->custom_plans), estate, eflags);
	node->custom_ps = list_make1(bs->child);
	desc = ExecGetResultType(bs->child);

	bs->ncalls = list_length(models);
	bs->ncols = desc->natts;
	bs->models = palloc0(sizeof(char *) * bs->ncalls);
	bs->options = palloc0(sizeof(Jsonb *) * bs->ncalls);
	bs->gen = palloc0(sizeof(bool) * bs->ncalls);
	bs->gchat = palloc0(sizeof(bool) * bs->ncalls);
	bs->classify = palloc0(sizeof(bool) * bs->ncalls);
	bs->image = palloc0(sizeof(bool) * bs->ncalls);
	bs->gargs = palloc0(sizeof(*bs->gargs) * bs->ncalls);
	bs->gnull = palloc0(sizeof(*bs->gnull) * bs->ncalls);
	foreach(lc, models)
	{
		int			j = foreach_current_index(lc);
		Const	   *k = lfirst(lc);
		Const	   *o = list_nth(options, j);
		List	   *g = list_nth(gargs, j);

		if (!k->constisnull)
			bs->models[j] = TextDatumGetCString(k->constvalue);
		if (!o->constisnull)
			bs->options[j] = DatumGetJsonbP(o->constvalue);
		bs->gen[j] = g != NIL;
		bs->classify[j] = list_nth_int(kinds, j) == EMBED_CLASSIFY;
		bs->image[j] = list_nth_int(kinds, j) == EMBED_IMAGE;
		bs->gchat[j] = g != NIL && ((Const *) lsecond(g))->consttype == JSONBOID;
		for (int i = 0; g != NIL && i < GENERATE_NARGS; i++)
		{
			Const	   *a = list_nth(g, i);

			bs->gnull[j][i] = a->constisnull;
			bs->gargs[j][i] = a->constvalue;
		}
	}
	bs->typlen = palloc(sizeof(int16) * bs->ncols);
	bs->typbyval = palloc(sizeof(bool) * bs->ncols);
	for (int i = 0; i < bs->ncols; i++)
	{
		bs->typlen[i] = TupleDescAttr(desc, i)->attlen;
		bs->typbyval[i] = TupleDescAttr(desc, i)->attbyval;
	}

	bs->max_rows = Max(pgi_batch_rows, 1);
	bs->next_rows = 1;
	bs->values = palloc(sizeof(Datum) * bs->max_rows * bs->ncols);
	bs->nulls = palloc(sizeof(bool) * bs->max_rows * bs->ncols);
	bs->vecs = palloc(sizeof(void *) * bs->max_rows * bs->ncalls);
	bs->texts = palloc(sizeof(text *) * bs->max_rows);
	bs->col = palloc(sizeof(Vector *) * bs->max_rows);
	bs->gcol = palloc(sizeof(text *) * bs->max_rows);
	bs->cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer embed batch",
									ALLOCSET_DEFAULT_SIZES);
}

/* The model of call j (ERROR when it is the default and none is set) */
static const char *
CallModel(BatchState *bs, int j)
{
	if (bs->models[j] != NULL)
		return bs->models[j];
	if (pgi_default_model == NULL || pgi_default_model[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_infer.default_model is not set")));
	return pgi_default_model;
}

/* Embed call j's texts of the batch in one pass */
static void
EmbedColumn(BatchState *bs, int j)
{
	int			nonnull = 0;

	for (int r = 0; r < bs->count; r++)
	{
		bool		isnull = bs->nulls[r * bs->ncols + j];

		bs->texts[r] = isnull ? NULL : DatumGetTextPP(bs->values[r * bs->ncols + j]);
		bs->col[r] = NULL;
		nonnull += !isnull;
	}
	if (nonnull > 0 && bs->gen[j])
		GenerateRows(bs->models[j], bs->gargs[j], bs->gnull[j], bs->gchat[j],
					 (struct varlena **) bs->texts, bs->count, bs->gcol);
	else if (nonnull > 0 && bs->classify[j])
		ClassifyRows(bs->models[j], bs->texts, bs->count, bs->gcol);
	else if (nonnull > 0 && bs->image[j])
		EmbedImageRows(bs->models[j], (bytea **) bs->texts, bs->count, bs->col);
	else if (nonnull > 0)
		EmbedRows(CallModel(bs, j), bs->options[j], bs->texts, bs->count, bs->col);
	for (int r = 0; r < bs->count; r++)
		bs->vecs[r * bs->ncalls + j] = bs->gen[j] || bs->classify[j] ? (void *) bs->gcol[r] :
			(void *) bs->col[r];
}

/* Read the next batch from the child and embed it; false at the end */
static bool
FillBatch(BatchState *bs)
{
	int			want = bs->next_rows;
	MemoryContext old;

	MemoryContextReset(bs->cxt);
	bs->count = bs->pos = 0;
	bs->next_rows = Min(bs->next_rows * 2, bs->max_rows);
	while (bs->count < want && !bs->done)
	{
		/* the child runs in the caller's context: it may allocate for the query */
		TupleTableSlot *slot = ExecProcNode(bs->child);
		int			base = bs->count * bs->ncols;

		if (TupIsNull(slot))
		{
			bs->done = true;
			break;
		}
		slot_getallattrs(slot);
		old = MemoryContextSwitchTo(bs->cxt);
		for (int k = 0; k < bs->ncols; k++)
		{
			bs->nulls[base + k] = slot->tts_isnull[k];
			bs->values[base + k] = slot->tts_isnull[k] ? (Datum) 0 :
				datumCopy(slot->tts_values[k], bs->typbyval[k], bs->typlen[k]);
		}
		MemoryContextSwitchTo(old);
		bs->count++;
	}
	if (bs->count == 0)
		return false;

	old = MemoryContextSwitchTo(bs->cxt);
	for (int j = 0; j < bs->ncalls; j++)
		EmbedColumn(bs, j);
	MemoryContextSwitchTo(old);
	bs->batches++;
	bs->rows += bs->count;
	return true;
}

/* Row r of the batch into slot */
static TupleTableSlot *
StoreRow(BatchState *bs, TupleTableSlot *slot, int r)
{
	ExecClearTuple(slot);
	for (int j = 0; j < bs->ncalls; j++)
	{
		void	  **v = &bs->vecs[r * bs->ncalls + j];

		slot->tts_isnull[j] = bs->nulls[r * bs->ncols + j];
		if (slot->tts_isnull[j])
			continue;
		if (*v == NULL)
		{
			/* left out of the pass: evaluate alone (raises its ERROR here) */
			MemoryContext old = MemoryContextSwitchTo(bs->cxt);

			if (bs->classify[j])
				*v = ClassifyOne(bs->models[j], DatumGetTextPP(bs->values[r * bs->ncols + j]));
			else if (bs->image[j])
				*v = EmbedImageOne(bs->models[j], DatumGetByteaPP(bs->values[r * bs->ncols + j]));
			else if (bs->gen[j])
				*v = GenerateOne(bs->models[j], bs->gargs[j], bs->gnull[j], bs->gchat[j],
								 (struct varlena *) DatumGetTextPP(bs->values[r * bs->ncols + j]));
			else
				*v = EmbedOne(CallModel(bs, j),
							  DatumGetTextPP(bs->values[r * bs->ncols + j]), bs->options[j]);
			MemoryContextSwitchTo(old);
		}
		slot->tts_values[j] = PointerGetDatum(*v);
	}
	for (int k = bs->ncalls; k < bs->ncols; k++)
	{
		slot->tts_isnull[k] = bs->nulls[r * bs->ncols + k];
		slot->tts_values[k] = bs->values[r * bs->ncols + k];
	}
	return ExecStoreVirtualTuple(slot);
}

/* Next row of the batch into the scan slot */
static TupleTableSlot *
BatchNext(ScanState *ss)
{
	BatchState *bs = (BatchState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	if (bs->pos >= bs->count && (bs->done || !FillBatch(bs)))
		return ExecClearTuple(slot);
	return StoreRow(bs, slot, bs->pos++);
}

/*
 * EvalPlanQual (a row changed by a concurrent transaction, rechecked under
 * UPDATE, DELETE, SELECT FOR UPDATE): with no relation of its own, the
 * custom scan is asked for the row to recheck through this method, every
 * time.  The child scan returns the new version of its row (or nothing):
 * embed it alone.
 */
static bool
BatchRecheck(ScanState *ss, TupleTableSlot *slot)
{
	BatchState *bs = (BatchState *) ss;

	bs->next_rows = 1;
	bs->done = false;
	if (!FillBatch(bs))
		return false;
	StoreRow(bs, slot, 0);
	bs->pos = bs->count;
	return true;
}

static TupleTableSlot *
ExecBatch(CustomScanState *node)
{
	return ExecScan(&node->ss, BatchNext, BatchRecheck);
}

static void
EndBatch(CustomScanState *node)
{
	BatchState *bs = (BatchState *) node;

	ExecEndNode(bs->child);
	MemoryContextDelete(bs->cxt);
}

static void
ReScanBatch(CustomScanState *node)
{
	BatchState *bs = (BatchState *) node;

	MemoryContextReset(bs->cxt);
	bs->count = bs->pos = 0;
	bs->done = false;
	bs->next_rows = 1;
	if (node->ss.ps.chgParam != NULL)
		UpdateChangedParamSet(bs->child, node->ss.ps.chgParam);
	if (bs->child->chgParam == NULL)
		ExecReScan(bs->child);
}

static void
ExplainBatch(CustomScanState *node, List *ancestors, ExplainState *es)
{
	BatchState *bs = (BatchState *) node;

	ExplainPropertyInteger("Batch Rows", NULL, bs->max_rows, es);
	if (es->analyze)
		ExplainPropertyInteger("Batches", NULL, bs->batches, es);
}

/* GUC and hooks */
void
BatchInit(void)
{
	DefineCustomIntVariable("pg_infer.batch_rows",
							"Rows embedded or decoded together by one forward pass in SELECT/INSERT/UPDATE over a table",
							"1 embeds row by row.",
							&pgi_batch_rows, 32, 1, 4096, PGC_USERSET, 0,
							NULL, NULL, NULL);
	RegisterCustomScanMethods(&batchPlanMethods);
	RegisterCustomScanMethods(&generatePlanMethods);
	CacheRegisterSyscacheCallback(PROCOID, ResetKinds, (Datum) 0);
	prevPlanner = planner_hook;
	planner_hook = BatchPlanner;
}
