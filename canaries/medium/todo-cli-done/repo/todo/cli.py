"""Command line: `python -m todo.cli [--file PATH] {add,list} ...`."""

from __future__ import annotations

import argparse
import sys

from todo import store


def format_task(task: dict) -> str:
    mark = "x" if task["done"] else " "
    return f"{task['id']}. [{mark}] {task['title']}"


def cmd_add(args: argparse.Namespace) -> int:
    tasks = store.load_tasks(args.file)
    try:
        task = store.add_task(tasks, args.title)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    store.save_tasks(args.file, tasks)
    print(f"added {task['id']}: {task['title']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    tasks = store.load_tasks(args.file)
    if not tasks:
        print("no tasks")
        return 0
    for task in tasks:
        print(format_task(task))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo", description="A tiny to-do list.")
    parser.add_argument("--file", default="todo.json", help="where tasks are stored")
    sub = parser.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add", help="add a task")
    add.add_argument("title")
    add.set_defaults(handler=cmd_add)

    listing = sub.add_parser("list", help="show tasks")
    listing.set_defaults(handler=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
