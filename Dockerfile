# One image for every Fengqiao process; the Deployment's args choose what it runs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FQ_GATEWAY_HOST=0.0.0.0 FQ_METRICS_HOST=0.0.0.0
WORKDIR /app
# A CJK font for the mediation agreement PDFs (调解协议书).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY fengqiao fengqiao
COPY services services
COPY gateway gateway
RUN pip install --no-cache-dir . && useradd --uid 10001 fengqiao
USER 10001
ENTRYPOINT ["fengqiao"]
