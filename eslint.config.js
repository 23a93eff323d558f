// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    },
  },
  {
    // The pure core imports no I/O library (STYLE.md principle 1).
    files: [
      'src/policy/**/*.ts',
      'src/engine/parse/**/*.ts',
      'src/engine/args/**/*.ts',
      // The mail report's pure core: data in, report and mail text out.
      'src/report/build-report.ts',
      'src/report/render-report.ts',
      'src/report/too-old.ts',
      'src/report/daily-schedule.ts',
      'src/report/duration.ts',
      'src/report/mail-content.ts',
      'src/report/report-time.ts',
      'src/report/smtp-settings.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'pg',
            'amqplib',
            'axios',
            'execa',
            'nodemailer',
            'node:fs',
            'node:fs/promises',
            'node:child_process',
            'node:net',
            'node:http',
          ],
        },
      ],
    },
  },
);
