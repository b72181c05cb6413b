# Diffusion-as-Shader studio on an NVIDIA GPU.
#   docker build -t das-studio .
#   docker run --gpus all -p 7860:7860 -v $PWD/checkpoints:/app/checkpoints -v $PWD/outputs:/app/outputs das-studio
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HOME=/app/checkpoints/.hf-cache

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-pip curl libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 studio
WORKDIR /app
RUN python3.11 -m venv /opt/venv && chown -R studio /opt/venv /app
ENV PATH=/opt/venv/bin:$PATH

# torch first: on Linux the PyPI wheel is the CUDA build; requirements.txt only bounds it.
COPY --chown=studio requirements.txt ./
RUN pip install "torch==2.13.0" && pip install -r requirements.txt

COPY --chown=studio . .
USER studio

VOLUME ["/app/checkpoints", "/app/outputs"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:7860/ >/dev/null || exit 1

CMD ["python", "webui.py", "--host", "0.0.0.0"]
