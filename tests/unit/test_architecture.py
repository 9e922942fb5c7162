"""The layering ARCHITECTURE.md asks for, checked on the source: the gateway reaches services
only over the bus, and domain modules import neither nameko nor FastAPI nor a driver."""
import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
SKINS = {"service.py"}  # a service's entrypoints: the one place nameko belongs
FRAMEWORKS = ("nameko", "fastapi", "starlette", "pymongo", "elasticsearch", "kombu", "amqp", "eventlet")


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_gateway_imports_no_service_package():
    for path in (ROOT / "gateway").rglob("*.py"):
        services = sorted(m for m in imported(path) if m == "services" or m.startswith("services."))
        assert not services, f"{path.relative_to(ROOT)} imports {services}: use the bus and fengqiao's contracts"


def test_no_service_imports_another_services_package():
    for service in (p for p in (ROOT / "services").iterdir() if p.is_dir() and p.name != "__pycache__"):
        for path in service.rglob("*.py"):
            others = sorted(m for m in imported(path) if m.startswith("services.")
                            and not m.startswith(f"services.{service.name}"))
            assert not others, f"{path.relative_to(ROOT)} imports {others}: share it through fengqiao/"


def test_service_domain_modules_import_no_framework_or_driver():
    for path in (ROOT / "services").rglob("*.py"):
        if path.name in SKINS:
            continue
        frameworks = sorted(m for m in imported(path) if m.split(".")[0] in FRAMEWORKS)
        assert not frameworks, f"{path.relative_to(ROOT)} imports {frameworks}: keep it in service.py"
