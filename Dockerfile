# One image for every Fengqiao process; the Deployment's args choose what it runs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FQ_GATEWAY_HOST=0.0.0.0 FQ_METRICS_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY fengqiao fengqiao
COPY services services
COPY gateway gateway
RUN pip install --no-cache-dir . && useradd --uid 10001 fengqiao
USER 10001
ENTRYPOINT ["fengqiao"]
