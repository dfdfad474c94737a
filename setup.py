from setuptools import find_packages, setup

with open("README.rst", encoding="utf-8") as f:
    long_description = f.read()

setup(
    name="twistedsched",
    version="0.1.0",
    description="A job scheduler for Twisted: cron and at inside a Twisted process, and a daemon",
    long_description=long_description,
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.9",
    # twisted/plugins has no __init__.py: it extends Twisted's plugin package
    # with the `twistd sched` plugin.  package_dir {"": "."} makes an editable
    # install put the project directory on sys.path (a .pth file), where
    # Twisted's plugin system finds twisted/plugins/; setuptools' import-hook
    # editable installs are invisible to it.  See docs/daemon.rst.
    package_dir={"": "."},
    packages=find_packages(include=["twistedsched", "twistedsched.*"]) + ["twisted.plugins"],
    package_data={"twisted.plugins": ["twistedsched_plugin.py", "twistedsched_worker_plugin.py"],
                  # The web dashboard's page, script and style (twistedsched.web).
                  "twistedsched.web": ["static/*"]},
    install_requires=[
        "twisted>=22.10",
        "zope.interface>=5",
        "tzdata",
        "txredisapi>=1.4.7",
        "pyOpenSSL>=22",
        "service-identity>=21",
        "prometheus_client>=0.16",
    ],
    extras_require={
        # jsonschema: checks every web API answer against the OpenAPI 3.1 document
        # (whose schemas are JSON Schema 2020-12); PyYAML: parses the Kubernetes
        # manifests of docs/deploy.rst; selenium: drives Chromium in the browser tests.
        "test": ["hypothesis>=6", "croniter>=1.3", "apscheduler>=3.9,<4", "pytz", "redis",
                 "pika>=1.3", "jsonschema>=4.18", "PyYAML>=6", "selenium>=4.11"],
        # The RabbitMQ broker of the worker tier (twistedsched.brokers.rabbitmq).
        "rabbitmq": ["pika>=1.3"],
        # The documentation (docs/, built by .ci/run): Sphinx, and pydoctor for the
        # API reference from the epytext docstrings.  The theme is Sphinx's own.
        "docs": ["sphinx>=8", "pydoctor>=24.3"],
        # python -m benchmarks: the contenders it measures twistedsched against.
        "bench": ["apscheduler>=3.9,<4", "redis", "celery[redis]>=5.3", "pika>=1.3"],
    },
    entry_points={
        "console_scripts": ["twistedsched-ctl = twistedsched.ctl:main"],
    },
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3",
    ],
)
