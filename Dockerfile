# Production image: gunicorn + WhiteNoise for the web, the same image runs the Celery worker and beat.
FROM node:22-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FOLLOWBACK_ENV=production
WORKDIR /app
RUN useradd --create-home --uid 10001 followback
COPY pyproject.toml constraints.txt ./
RUN pip install --no-cache-dir -c constraints.txt . && pip install --no-cache-dir -c constraints.txt gunicorn
COPY --from=assets /src/node_modules/@picocss/pico/css node_modules/@picocss/pico/css
COPY manage.py ./
COPY followback followback
COPY accounts accounts
COPY rules rules
COPY templates templates
COPY static static
COPY docker docker
RUN SECRET_KEY=collectstatic-only \
    FIELD_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    python manage.py collectstatic --noinput && mkdir -p var && chown followback var
USER followback
EXPOSE 8000
CMD ["docker/web"]
