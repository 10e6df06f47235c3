"""`llmline kb build|add|delete|search|eval|graph|ask|tickets`: KBs and the assistant."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument

RETRIEVERS = ("bm25", "dense", "hybrid", "hybrid+rerank")


def register(verbs: Any) -> None:
    kb = verbs.add_parser("kb", help="build, update, search and evaluate knowledge bases")
    actions = kb.add_subparsers(dest="kb_action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="index a folder or file (syncs an existing KB)")
    _input_arguments(build, required=False)
    build.add_argument("--spec", type=Path, default=None, help="YAML with a kb: block (without "
                       "--input: its assistant.input is indexed)")  # fmt: skip
    build.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                       help="--spec variables (e.g. data_dir)")  # fmt: skip
    build.set_defaults(handler=cmd_build)
    add = actions.add_parser("add", help="add or update files; unchanged ones are skipped")
    _input_arguments(add)
    add.set_defaults(handler=cmd_add)
    delete = actions.add_parser("delete", help="remove sources, or the whole KB with --all")
    delete.add_argument("name")
    delete.add_argument("sources", nargs="*", help="source paths as listed in the manifest")
    delete.add_argument("--all", action="store_true", help="delete the whole KB")
    add_workspace_argument(delete)
    delete.set_defaults(handler=cmd_delete)
    search = actions.add_parser("search", help="retrieve chunks for a query (JSON lines)")
    search.add_argument("name")
    search.add_argument("query")
    search.add_argument("--retriever", choices=RETRIEVERS, default=None)
    search.add_argument("--top-k", type=int, default=None)
    add_workspace_argument(search)
    search.set_defaults(handler=cmd_search)
    _eval_parser(actions)
    _assistant_parsers(actions)
    graph = actions.add_parser("graph", help="export the entity co-occurrence graph")
    graph.add_argument("name")
    graph.add_argument("--graphml", type=Path, required=True, help="output .graphml file")
    add_workspace_argument(graph)
    graph.set_defaults(handler=cmd_graph)


def _input_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("name", help="KB name: <workspace>/kb/NAME/")
    parser.add_argument("--input", type=Path, required=required, help="a folder or a file")
    parser.add_argument("--id-col", default=None, help="tables: the id column (eval's gold id)")
    parser.add_argument("--text-col", default=None, help="tables: the text column (default: "
                        "question + answer)")  # fmt: skip
    add_workspace_argument(parser)


def _eval_parser(actions: Any) -> None:
    parser = actions.add_parser("eval", help="recall@1/5/10 and MRR@10 on labelled queries")
    parser.add_argument("name")
    parser.add_argument("--data", type=Path, required=True, help="CSV/TSV/JSONL of queries")
    parser.add_argument("--query-col", required=True)
    parser.add_argument("--gold-col", required=True, help="column with the relevant id")
    parser.add_argument("--retriever", choices=RETRIEVERS, default=None)
    add_workspace_argument(parser)
    parser.set_defaults(handler=cmd_eval)


def _assistant_parsers(actions: Any) -> None:
    ask = actions.add_parser("ask", help="answer a customer message: citations, intent, hand-off")
    ask.add_argument("name", help="KB name")
    ask.add_argument("message", help="the customer's message")
    ask.add_argument("--conversation", default=None, help="continue this conversation id")
    ask.add_argument(
        "--generate",
        action="store_true",
        help="a chat model (assistant.generate.model) writes the answer, streamed",
    )
    ask.add_argument("--spec", type=Path, default=None, help="YAML with an assistant: block")
    ask.add_argument("--json", action="store_true", help="print the reply as JSON")
    add_workspace_argument(ask)
    ask.set_defaults(handler=cmd_ask)
    tickets = actions.add_parser("tickets", help="list hand-off tickets (or close one)")
    tickets.add_argument("--status", choices=("open", "closed"), default=None)
    tickets.add_argument("--close", default=None, metavar="TICKET", help="close this ticket")
    tickets.add_argument("--spec", type=Path, default=None, help="YAML with an assistant: block "
                         "(its store_url)")  # fmt: skip
    tickets.add_argument("--json", action="store_true", help="print the tickets as JSON")
    add_workspace_argument(tickets)
    tickets.set_defaults(handler=cmd_tickets)


def _workspace(args: argparse.Namespace) -> Any:
    from llmline.workspace import Workspace

    return Workspace.resolve(args.workspace)


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def cmd_build(args: argparse.Namespace) -> int:
    from llmline.kb.build import build_kb
    from llmline.kb.ingest import TableColumns

    if args.input is None:
        from llmline.assistant.stage import build_from_spec
        from llmline.errors import DataError
        from llmline.spec import parse_vars

        if args.spec is None:
            raise DataError(
                "name what to index", fix="pass --input, or --spec with an assistant.input"
            )
        _print(build_from_spec(args.name, _workspace(args), args.spec, parse_vars(args.var)))
        return 0
    columns = TableColumns(args.id_col, args.text_col)
    report = build_kb(args.name, _workspace(args), args.input, columns, spec_path=args.spec)
    _print(report)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from llmline.kb.base import KnowledgeBase
    from llmline.kb.ingest import TableColumns

    kb = KnowledgeBase.open(args.name, _workspace(args))
    report = kb.sync(args.input, TableColumns(args.id_col, args.text_col), remove_missing=False)
    _print(asdict(report))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from llmline.errors import DataError
    from llmline.kb.base import KnowledgeBase

    kb = KnowledgeBase.open(args.name, _workspace(args))
    if args.all:
        kb.remove()
        _print({"deleted_kb": args.name})
        return 0
    if not args.sources:
        raise DataError("name the sources to delete", fix="pass source paths, or --all")
    _print(asdict(kb.delete(args.sources)))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from llmline.kb.base import KnowledgeBase

    kb = KnowledgeBase.open(args.name, _workspace(args))
    for hit in kb.search(args.query, retriever=args.retriever, top_k=args.top_k):
        print(json.dumps(hit.as_dict(), ensure_ascii=False))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from llmline.kb.base import KnowledgeBase
    from llmline.kb.evaluate import evaluate_kb, read_gold

    kb = KnowledgeBase.open(args.name, _workspace(args))
    gold = read_gold(args.data, args.query_col, args.gold_col)
    _print(evaluate_kb(kb, gold, args.retriever or kb.spec.retriever))
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    import networkx as nx

    from llmline.kb.base import KnowledgeBase

    kb = KnowledgeBase.open(args.name, _workspace(args))
    graph = kb.entities.graph()
    args.graphml.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(graph, args.graphml)
    _print({"graphml": str(args.graphml), "entities": graph.number_of_nodes(),
            "edges": graph.number_of_edges()})  # fmt: skip
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from llmline.assistant.cli import ask

    return ask(args.name, args.message, _workspace(args), conversation=args.conversation,
               generate=args.generate, spec_path=args.spec, as_json=args.json)  # fmt: skip


def cmd_tickets(args: argparse.Namespace) -> int:
    from llmline.assistant.cli import tickets

    return tickets(_workspace(args), status=args.status, close=args.close, spec_path=args.spec,
                   as_json=args.json)  # fmt: skip
