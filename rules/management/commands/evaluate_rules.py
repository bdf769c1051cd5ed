from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Brand
from rules import evaluation
from rules.evaluation import ClassResult, DecisionEvaluation, DemoEvaluation
from rules.models import PolicyVersion
from rules.policy import PolicySettings
from rules.population import brand_context
from rules.services import current_policy


class Command(BaseCommand):
    help = (
        "Run a policy over the demo platform's synthetic followers, whose true classes are known, and print "
        "precision and recall per class; or, with --decisions, score a brand's policy against the decisions its "
        "reviewers recorded. A sanity check of the machinery, not a measure of real-world accuracy."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--brand", metavar="SLUG", help="use this brand's current policy (default: the default policy)"
        )
        parser.add_argument(
            "--policy-version", type=int, metavar="N", help="use version N of the brand's policy instead"
        )
        parser.add_argument(
            "--size", type=int, default=evaluation.DEMO_SIZE,
            help=f"demo followers at the first sync (default {evaluation.DEMO_SIZE:,})",
        )  # fmt: skip
        parser.add_argument(
            "--seed", type=int, default=evaluation.DEMO_SEED,
            help=f"seed of the demo world (default {evaluation.DEMO_SEED})",
        )  # fmt: skip
        parser.add_argument(
            "--check", action="store_true", help="exit with status 1 when the policy misses a bar on the demo"
        )
        parser.add_argument(
            "--decisions", action="store_true",
            help="score the brand's policy against its reviewers' recorded decisions (needs --brand)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        brand = _brand(options["brand"]) if options["brand"] else None
        if brand is None and options["policy_version"] is not None:
            raise CommandError("--policy-version needs --brand.")
        version = _version(brand, options["policy_version"]) if brand else None
        if options["decisions"]:
            if version is None or brand is None:
                raise CommandError("--decisions needs --brand.")
            if options["check"]:
                raise CommandError("--check applies to the demo population, not to --decisions.")
            self._print_decisions(brand, evaluation.evaluate_decisions(brand, version))
            return
        if options["size"] < 1:
            raise CommandError("--size must be at least 1.")
        settings = version.policy if version else PolicySettings()
        handle, name = evaluation.DEMO_BRAND_HANDLE, evaluation.DEMO_BRAND_NAME
        if brand is not None:
            context = brand_context(brand, settings)
            handle, name = context.handle, context.display_name
        result = evaluation.evaluate_demo(
            settings, size=options["size"], seed=options["seed"], brand_handle=handle, brand_name=name
        )
        policy = (
            f"version {version.number} of {brand.slug}'s policy"
            if version and brand
            else "the default policy"
        )
        self._print_demo(result, policy, handle)
        if options["check"] and not result.passed:
            raise CommandError("The policy misses a bar: " + "; ".join(result.failures) + ".", returncode=1)

    def _print_demo(self, result: DemoEvaluation, policy: str, handle: str) -> None:
        write = self.stdout.write
        write(
            f"Evaluating {policy} on {result.followers:,} synthetic followers of @{handle}: the demo world "
            f"(size {result.size:,}, seed {result.seed}) after {result.syncs + 1} daily syncs."
        )
        write("")
        rows = [_class_row(row) for row in (*result.classes, result.wanted)]
        header = ("class", "followers", "suggested", "below threshold", "never", "should be", "recall", "bar")
        self._table(header, rows, "<>>>><><")
        write("")
        write(
            f"Suggested {result.suggested:,}, of whom {result.wanted.suggested:,} are customers or engaged fans: "
            f"precision {_number(result.precision)} (bar ≥ {evaluation.PRECISION_BAR:.2f}: "
            f"{'ok' if result.precision_passed else 'MISSED'})."
        )
        write(
            "Recall is the share of a class suggested (customers, fans) or kept out, below the threshold or "
            "never suggested (bots, spam, churners, harmful)."
        )
        if result.passed:
            write(self.style.SUCCESS("Every bar is met."))
        else:
            for failure in result.failures:
                write(self.style.ERROR(f"Missed: {failure}."))

    def _print_decisions(self, brand: Brand, result: DecisionEvaluation) -> None:
        write = self.stdout.write
        write(
            f"Scoring version {result.policy_version} of {brand.slug}'s policy against {result.decided:,} "
            f"reviewer decisions: {result.people_approved:,} approved ({result.awaiting:,} of them waiting for "
            f"a second approver, counted as approved) and {result.people_rejected:,} rejected."
        )
        if result.skipped:
            write(f"Left out {result.skipped:,} decided suggestions that stored no signal values.")
        write("")
        by_verdict = ("policy suggests", "below threshold", "never")
        self._table(
            ("", *by_verdict, "total"),
            [
                ("people approved", *map(_count, result.approved), _count(result.people_approved)),
                ("people rejected", *map(_count, result.rejected), _count(result.people_rejected)),
            ],
            "<>>>>",
        )
        write("")
        self._table(
            ("", "", "share"),
            [
                ("of those people approved, the policy suggests",
                 f"{result.both_approve:,} of {result.people_approved:,}", _number(result.recall)),
                ("of those the policy suggests, people approved",
                 f"{result.both_approve:,} of {result.policy_suggests:,}", _number(result.precision)),
                ("of those people rejected, the policy holds",
                 f"{result.both_reject:,} of {result.people_rejected:,}", _number(result.rejected_held)),
                ("agreement with people",
                 f"{result.both_approve + result.both_reject:,} of {result.decided:,}", _number(result.agreement)),
            ],
            "<>>",
        )  # fmt: skip
        if result.made_by_version:
            write("")
            write(
                f"Of the {result.made_by_version:,} decisions on suggestions made by version "
                f"{result.policy_version}, {result.reproduced:,} get their stored score back within a point."
            )

    def _table(self, header: tuple[str, ...], rows: list[tuple[str, ...]], align: str) -> None:
        """Columns of text, each aligned as ``align`` says: "<" left or ">" right, one character a column."""
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
        for row in (header, *rows):
            cells = (
                cell.ljust(width) if side == "<" else cell.rjust(width)
                for cell, width, side in zip(row, widths, align, strict=True)
            )
            self.stdout.write("  ".join(cells).rstrip())


def _brand(slug: str) -> Brand:
    brand = Brand.objects.filter(slug=slug).first()
    if brand is None:
        raise CommandError(f"No brand with the slug {slug!r}.")
    return brand


def _version(brand: Brand, number: int | None) -> PolicyVersion:
    if number is None:
        return current_policy(brand)
    version = PolicyVersion.objects.for_brand(brand).filter(number=number).first()
    if version is None:
        raise CommandError(f"{brand.slug} has no policy version {number}.")
    return version


def _class_row(result: ClassResult) -> tuple[str, ...]:
    goal = {"suggest": "suggested", "hold": "held", "either": "either"}[result.goal]
    bar = f"≥ {result.bar:.2f} {'ok' if result.passed else 'MISSED'}" if result.bar is not None else ""
    return (
        result.name, _count(result.followers), _count(result.suggested), _count(result.below_threshold),
        _count(result.never), goal, _number(result.recall), bar,
    )  # fmt: skip


def _count(value: int) -> str:
    return f"{value:,}"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
