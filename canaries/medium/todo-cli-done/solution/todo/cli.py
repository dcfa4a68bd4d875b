"""Command line: `python -m todo.cli [--file PATH] {add,list,done} ...`."""

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
    if args.pending:
        tasks = [task for task in tasks if not task["done"]]
    if not tasks:
        print("no tasks")
        return 0
    for task in tasks:
        print(format_task(task))
    return 0


def cmd_done(args: argparse.Namespace) -> int:
    tasks = store.load_tasks(args.file)
    existing = next((task for task in tasks if task["id"] == args.id), None)
    if existing is None:
        print(f"error: no task with id {args.id}", file=sys.stderr)
        return 1
    if existing["done"]:
        print(f"task {args.id} is already done")
        return 0
    task = store.mark_done(tasks, args.id)
    store.save_tasks(args.file, tasks)
    print(f"done: {task['title']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo", description="A tiny to-do list.")
    parser.add_argument("--file", default="todo.json", help="where tasks are stored")
    sub = parser.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add", help="add a task")
    add.add_argument("title")
    add.set_defaults(handler=cmd_add)

    listing = sub.add_parser("list", help="show tasks")
    listing.add_argument("--pending", action="store_true", help="only tasks not done yet")
    listing.set_defaults(handler=cmd_list)

    done = sub.add_parser("done", help="mark a task as done")
    done.add_argument("id", type=int)
    done.set_defaults(handler=cmd_done)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
